// "Where did a person's data go?": the contact search of the compliance page. By email, or by the
// contact store's id, it asks `contactLineage` and lists every destination that received this
// person's fields — which fields (with their PII class), when, under which flow rule — and
// exports the answer as JSON for a data-subject request. The server audits each search.

import { gql } from './api.js';
import { h, replace, loading, errorBox, empty, table, when, piiBadge, announce } from './dom.js';

const CONTACT = `query($e: String, $c: Int) { contactLineage(email: $e, contactId: $c) {
  hops { instance instanceName template templateVersion run
    deliveries { id slot connector status updatedAt sent { field class rule } } }
  json } }`;

function download(name, value) {
  const blob = new Blob([`${JSON.stringify(value, null, 2)}\n`], { type: 'application/json' });
  const a = h('a', { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

function results(out, d, who) {
  const rows = d.hops.flatMap((x) => x.deliveries.map((dl) => ({ ...dl, hop: x })));
  const exportButton = h('button', { type: 'button', id: 'contact-export' }, 'Export as JSON');
  exportButton.addEventListener('click', () => {
    const doc = { subject: who, askedAt: new Date().toISOString(), ...d.json };
    window.__syLastExport = doc;
    download(`switchyard-contact-lineage-${new Date().toISOString().slice(0, 10)}.json`, doc);
    announce('Exported.');
  });
  if (!rows.length) {
    replace(out, empty('Events about this person arrived, but none of their fields reached a destination you may see.'), h('div', { class: 'buttons' }, exportButton));
    return;
  }
  replace(out,
    table([
      { label: 'Destination', cell: (r) => [h('strong', {}, r.connector), h('div', { class: 'hint' }, `${r.slot}, delivery ${r.id}`)] },
      { label: 'Workflow', cell: (r) => [h('a', { href: `/workflows/${r.hop.instance}`, 'data-link': true }, r.hop.instanceName), h('div', { class: 'hint' }, `${r.hop.template} ${r.hop.templateVersion}`)] },
      { label: 'Fields', cell: (r) => h('ul', { class: 'field-chips' }, r.sent.map((f) => h('li', {}, h('code', {}, f.field), ' ', piiBadge(f.class)))) },
      { label: 'Rule', cell: (r) => [...new Set(r.sent.map((f) => f.rule).filter(Boolean))].join(', ') || '—' },
      { label: 'When', cell: (r) => when(r.updatedAt) },
    ], rows, `${rows.length} destination${rows.length === 1 ? '' : 's'} received this person's data`),
    h('div', { class: 'buttons' }, exportButton));
}

/** The contact search section. */
export function contactSearch() {
  const input = h('input', { id: 'contact-q', name: 'contact', type: 'text', autocomplete: 'off', placeholder: 'ana@example.com, or a contact id' });
  const out = h('div', { class: 'contact-result', 'aria-live': 'polite' });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Find where a person’s data went' },
    h('div', { class: 'field inline' }, h('label', { for: input.id }, 'Email or contact id'), input),
    h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Search')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const q = input.value.trim();
    if (!q) { replace(out, h('p', { class: 'field-error' }, 'Give an email address or a contact id.')); return; }
    replace(out, loading('Searching'));
    try {
      const vars = /^\d+$/.test(q) ? { c: Number(q) } : { e: q };
      results(out, (await gql(CONTACT, vars)).contactLineage, q);
    } catch (e) {
      replace(out, errorBox(e, 'The search found nothing to show'));
    }
  });
  const section = h('section', { 'aria-labelledby': 'contact-h', class: 'panel contact-search' },
    h('h2', { id: 'contact-h' }, 'Where did a person’s data go?'),
    h('p', { class: 'hint' }, 'Every destination that received this person’s fields, which fields, when, and under which rule — for a data-subject request. Each search is audited.'),
    form, out);
  // Only for those the policy lets ask (compliance, platform admins); the server decides again.
  section.hidden = true;
  gql('{ me { can(object: "lineage:contacts", action: "read") } }')
    .then((d) => { section.hidden = !d.me.can; })
    .catch(() => {});
  return section;
}
