// Building the page: a tiny element helper and the shared pieces every page uses (badges,
// loading, empty and error states, dates). Text always goes in as text nodes, never as HTML,
// so nothing from the server can inject markup.

/** Creates an element: h('a', {href: '/x', class: 'card'}, 'text', child, [more]). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** An internal link handled by the client-side router. */
export function link(href, ...children) {
  return h('a', { href, 'data-link': true }, ...children);
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';

/** Creates an SVG element with attributes. */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) if (c) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** A lifecycle badge: published, deprecated, retired, draft. */
export function lifecycleBadge(lifecycle) {
  const l = String(lifecycle || '').toLowerCase();
  return h('span', { class: `badge lc-${l}` }, l || 'unknown');
}

/** A PII class badge: none, personal, sensitive, hashed. */
export function piiBadge(pii) {
  const p = String(pii || 'none').toLowerCase();
  const label = { none: 'no PII', personal: 'personal data', sensitive: 'sensitive data', hashed: 'hashed' }[p] || p;
  return h('span', { class: `badge pii-${p}`, title: `PII class: ${p}` }, label);
}

/** A workflow or run status badge. */
export function statusBadge(status) {
  const s = String(status || 'unknown').toLowerCase();
  return h('span', { class: `badge st-${s.replace(/[^a-z_]/g, '')}` }, s.replace(/_/g, ' '));
}

export function loading(what = 'Loading') {
  return h('p', { class: 'loading', role: 'status' }, `${what}…`);
}

export function empty(text, ...more) {
  return h('div', { class: 'empty' }, h('p', {}, text), ...more);
}

/** A visible error box; `err` may be a GqlError or any Error. */
export function errorBox(err, title = 'Something went wrong') {
  const messages = err && err.errors ? err.errors.map((e) => e.message) : [String(err && err.message || err)];
  const code = err && err.code ? ` (${err.code})` : '';
  return h('div', { class: 'error-box', role: 'alert' },
    h('strong', {}, title + code), h('ul', {}, messages.map((m) => h('li', {}, m))));
}

/** A short, local date and time; the full ISO time as a tooltip. */
export function when(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return h('span', {}, iso);
  return h('time', { datetime: d.toISOString(), title: d.toISOString() }, d.toLocaleString());
}

/** "5 minutes ago" for a time. */
export function ago(iso) {
  if (!iso) return 'never';
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (Number.isNaN(s)) return iso;
  if (s < 60) return 'just now';
  const units = [[86400, 'day'], [3600, 'hour'], [60, 'minute']];
  for (const [n, u] of units) if (s >= n) { const k = Math.floor(s / n); return `${k} ${u}${k > 1 ? 's' : ''} ago`; }
  return iso;
}

/** Announces a message to screen readers. */
export function announce(text) {
  const el = document.getElementById('announce');
  if (el) el.textContent = text;
}

/** A table from column specs: [{label, cell: (row) => node}]. Wrapped so it scrolls on phones. */
export function table(columns, rows, caption) {
  return h('div', { class: 'table-wrap' },
    h('table', {},
      caption ? h('caption', {}, caption) : null,
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.label)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, columns.map((c) => h('td', { 'data-label': c.label }, c.cell(r))))))));
}

/** A labelled form control with an optional hint; returns {wrap, input}. */
export function field(label, input, hint) {
  const id = input.id || (input.id = uid('f'));
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  return { wrap: h('div', { class: 'field' }, h('label', { for: id }, label), hintEl, input), input };
}

let counter = 0;
export function uid(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** Pretty JSON in a <pre>. */
export function json(value) {
  return h('pre', { class: 'json' }, JSON.stringify(value, null, 2));
}

/** Debounces `fn` by `ms`. */
export function debounce(fn, ms) {
  let t;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}
