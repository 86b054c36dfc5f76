// Platform: publish a deprecation notice for a catalog version (`publishDeprecationNotice`): its
// sunset, what replaces it and how to move. Before publishing the page previews which live
// workflows depend on the version; after, it shows the server's list of affected instances and
// the owners it notified. Below, every notice so far, with a "Retire" action once a sunset has
// passed.

import { gql, GqlError } from '../api.js';
import { h, link, replace, loading, errorBox, empty, lifecycleBadge, statusBadge, table, announce, when } from '../dom.js';
import { NOTICE, KIND_INFO, dateText, noticeId, relative, replacementNode, sunsetPassed, sunsetTime } from '../deprecation.js';

const KINDS = { TEMPLATE: 'templates', CONNECTOR: 'connectors', CONTRACT: 'contracts' };
const ITEMS = (field) => `{ ${field}(first: 100) { edges { node { key name latestVersion versions { version lifecycle } } } } }`;
const PUBLISH = `mutation($i: DeprecationInput!) { publishDeprecationNotice(input: $i) { ${NOTICE} } }`;
/** Which form control shows the errors of each input field the server names. */
const FIELDS = { kind: 'dp-kind', key: 'dp-item', version: 'dp-version', sunsetAt: 'dp-sunset', replacement: 'dp-replacement', notes: 'dp-notes' };

/** `2026-12-31T09:00` in local time for a datetime-local input. */
function localInputValue(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function utcOffset() {
  const m = -new Date().getTimezoneOffset();
  const sign = m >= 0 ? '+' : '−';
  const a = Math.abs(m);
  return `UTC${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

/** A labelled control with a hint and a place for its error, all tied together for screen readers. */
function control(id, label, input, hint, { required = false, hintAfter = false } = {}) {
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  const err = h('p', { class: 'field-error', id: `${id}-err`, hidden: true });
  input.id = id;
  input.setAttribute('aria-describedby', [hintEl ? hintEl.id : null, err.id].filter(Boolean).join(' '));
  if (required) input.setAttribute('aria-required', 'true');
  return h('div', { class: 'field' },
    h('label', { for: id }, label, required ? h('span', { class: 'req' }, ' (required)') : null),
    hintAfter ? null : hintEl, input, hintAfter ? hintEl : null, err);
}

export async function render(main, ctx) {
  const kind = h('select', { name: 'kind' }, Object.keys(KINDS).map((k) => h('option', { value: k }, k.charAt(0) + k.slice(1).toLowerCase())));
  const item = h('select', { name: 'key' });
  const version = h('select', { name: 'version' });
  const sunset = h('input', { type: 'datetime-local', name: 'sunsetAt', step: 60 });
  const replacementInput = h('input', { type: 'text', name: 'replacement', autocomplete: 'off', list: 'dp-replacements', placeholder: 'e.g. lead-capture 2.0.0' });
  const suggestions = h('datalist', { id: 'dp-replacements' });
  const notes = h('textarea', { name: 'notes', rows: 4 });
  const affected = h('div', { 'aria-live': 'polite' });
  const result = h('div', { id: 'dp-result', tabindex: '-1' });
  const status = h('div', { 'aria-live': 'polite' });
  const formError = h('div', { 'aria-live': 'assertive' });
  const existing = h('p', { class: 'hint', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Publish the notice');
  const list = h('div', {}, loading('Loading the notices'));
  const later = new Date(Date.now() + 90 * 86400000);
  later.setHours(9, 0, 0, 0);
  sunset.value = localInputValue(later);
  sunset.min = localInputValue(new Date());

  const form = h('form', { class: 'panel deprecation-form', id: 'dp-form', novalidate: true, 'aria-labelledby': 'dp-h' },
    h('h2', { id: 'dp-h' }, 'Publish a deprecation notice'),
    h('p', { class: 'hint' }, 'The version becomes deprecated right away; the owners of every live workflow using it get a notification. After the sunset nobody can create a new workflow from a deprecated template version.'),
    h('div', { class: 'form-grid' },
      control('dp-kind', 'Kind', kind),
      control('dp-item', 'Item', item),
      control('dp-version', 'Version', version, 'Only published or deprecated versions get a notice.', { hintAfter: true }),
      control('dp-sunset', 'Sunset', sunset, `Your local time (${utcOffset()}); in the future.`, { required: true, hintAfter: true })),
    existing,
    control('dp-replacement', 'Replacement', replacementInput, 'Optional: what to use instead, as “key version” (e.g. lead-capture 2.0.0) so it becomes a link.'),
    suggestions,
    control('dp-notes', 'Migration notes', notes, 'What owners have to do to move, in plain words.', { required: true }),
    formError,
    h('div', { class: 'buttons' }, submit),
    status);
  replace(main,
    h('h1', {}, 'Platform'),
    h('p', { class: 'lead' }, 'Announce that a catalog version is going away: when it stops, what replaces it, and how to move. Lifecycles only move forward: published → deprecated → retired.'),
    form,
    h('section', { 'aria-labelledby': 'aff-h' }, h('h2', { id: 'aff-h' }, 'Who is affected'), result, affected),
    h('section', { 'aria-labelledby': 'notices-h' }, h('h2', { id: 'notices-h' }, 'Deprecation notices'), list));
  ctx.titled('Platform', ctx.focus);

  let items = [];
  let allNotices = [];
  const selected = () => items.find((i) => i.key === item.value);
  const loadItems = async (preview = true) => {
    replace(item, h('option', { value: '' }, 'Loading…'));
    try {
      items = (await gql(ITEMS(KINDS[kind.value])))[KINDS[kind.value]].edges.map((e) => e.node);
    } catch (e) {
      items = [];
      replace(affected, errorBox(e, 'The catalog could not be loaded'));
    }
    replace(item, items.map((i) => h('option', { value: i.key }, i.name)));
    replace(suggestions, items.flatMap((i) => i.versions
      .filter((v) => ['PUBLISHED', 'DEPRECATED'].includes(v.lifecycle))
      .map((v) => h('option', { value: `${i.key} ${v.version}` }, `${i.name} ${v.version}`))));
    fillVersions(preview);
  };
  const fillVersions = (preview = true) => {
    const it = selected();
    const versions = it ? it.versions : [];
    replace(version, versions.map((v) => h('option', {
      value: v.version, disabled: !['PUBLISHED', 'DEPRECATED'].includes(v.lifecycle),
    }, `${v.version} (${v.lifecycle.toLowerCase()})`)));
    const first = versions.find((v) => ['PUBLISHED', 'DEPRECATED'].includes(v.lifecycle));
    if (first) version.value = first.version;
    versionChanged(preview);
  };
  /**
   * Offers the existing notice's values for the chosen version and previews who is affected
   * (unless a publish just listed them).
   */
  const versionChanged = (preview = true) => {
    const n = allNotices.find((x) => x.kind === kind.value && x.key === item.value && x.version === version.value);
    if (n) {
      replace(existing, 'This version already has a notice (sunset ', dateText(n.sunsetAt), '); publishing again updates it and notifies the owners again.');
      sunset.value = localInputValue(new Date(n.sunsetAt));
      replacementInput.value = n.replacement || '';
      notes.value = n.notes;
      submit.textContent = 'Update the notice';
    } else {
      replace(existing);
      submit.textContent = 'Publish the notice';
    }
    if (preview) {
      replace(result);
      replace(status);
      showAffected();
    }
  };
  const showAffected = async () => {
    const it = selected();
    if (!it || !version.value) { replace(affected, empty('Pick an item and a version.')); return; }
    replace(affected, loading('Finding affected workflows'));
    try {
      const rows = await affectedInstances(kind.value, it.key, version.value);
      replace(affected, h('p', { class: 'hint' }, 'A preview from the workflows you can see; the server lists every one when you publish.'),
        affectedTable(rows, `${it.name} ${version.value}`));
    } catch (e) {
      replace(affected, errorBox(e, 'Affected workflows could not be listed'));
    }
  };
  const loadNotices = async () => {
    try {
      allNotices = await notices();
      drawNotices(list, allNotices, loadNotices);
    } catch (e) {
      replace(list, errorBox(e, 'The notices could not be loaded'));
    }
  };

  const controls = Object.fromEntries(Object.entries(FIELDS).map(([f, id]) => [f, form.querySelector(`#${id}`)]));
  const clearErrors = () => {
    replace(formError);
    for (const c of Object.values(controls)) {
      c.removeAttribute('aria-invalid');
      const err = document.getElementById(`${c.id}-err`);
      err.hidden = true;
      err.textContent = '';
    }
  };
  /** Shows each message next to its control; returns the first control in error. */
  const showErrors = (byField) => {
    let first = null;
    const rest = [];
    for (const [field, messages] of Object.entries(byField)) {
      const c = controls[field.replace(/^input\./, '')];
      if (!c) { rest.push(...messages); continue; }
      const err = document.getElementById(`${c.id}-err`);
      err.textContent = messages.map((m) => m.replace(new RegExp(`^(input\\.)?${field.replace(/^input\./, '')}: `), '')).join(' ');
      err.hidden = false;
      c.setAttribute('aria-invalid', 'true');
      if (!first || Object.values(controls).indexOf(c) < Object.values(controls).indexOf(first)) first = c;
    }
    if (rest.length) replace(formError, errorBox({ errors: rest.map((message) => ({ message })) }, 'The notice was not published'));
    return first;
  };

  kind.addEventListener('change', () => loadItems());
  item.addEventListener('change', () => fillVersions());
  version.addEventListener('change', () => versionChanged());
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors();
    const local = {};
    const at = sunset.value ? new Date(sunset.value) : null;
    if (!item.value) local.key = ['Choose an item.'];
    if (!version.value) local.version = ['Choose a version.'];
    if (!at || Number.isNaN(at.getTime())) local.sunsetAt = ['Choose the date and time of the sunset.'];
    if (!notes.value.trim()) local.notes = ['Write how owners move off this version.'];
    if (Object.keys(local).length) {
      const first = showErrors(local);
      if (first) first.focus();
      announce('The notice was not published; see the errors.');
      return;
    }
    submit.disabled = true;
    replace(status, loading('Publishing the notice'));
    try {
      const d = await gql(PUBLISH, {
        i: {
          kind: kind.value,
          key: item.value,
          version: version.value,
          sunsetAt: at.toISOString(),
          replacement: replacementInput.value.trim() || null,
          notes: notes.value.trim(),
        },
      });
      const n = d.publishDeprecationNotice;
      const it = selected();
      const count = n.affectedInstances.length;
      const owners = ownersOf(n.affectedInstances);
      replace(status, h('p', { class: 'notice ok', role: 'status' }, `Notice published. ${count} live workflow${count === 1 ? '' : 's'} affected`,
        owners.length ? `; notified ${owners.join(', ')}.` : '.', ' ', h('a', { href: '#pub-h' }, 'See who is affected')));
      const keep = [item.value, version.value];
      await loadNotices();
      await loadItems(false);
      [item.value] = keep;
      fillVersions(false);
      version.value = keep[1];
      versionChanged(false);
      drawPublished(result, n, it ? it.name : n.key);
      replace(affected);
      announce(`Notice published; ${count} workflow${count === 1 ? '' : 's'} affected.`);
      result.focus();
    } catch (err) {
      replace(status);
      const byField = err instanceof GqlError ? placeErrors(err) : { '': [String(err.message || err)] };
      const first = showErrors(byField);
      if (first) first.focus();
      announce('The notice was not published; see the errors.');
    } finally {
      submit.disabled = false;
    }
  });
  await loadNotices();
  await loadItems();
}

/**
 * Errors by input field: `extensions.field` when the server names it, otherwise the field a
 * message starts with (`version: lead-capture 9.0.0 …`), otherwise none.
 */
function placeErrors(err) {
  const out = {};
  for (const e of err.errors) {
    let f = (e.extensions && e.extensions.field) || '';
    if (!f) {
      const m = /^(key|version|sunsetAt|notes|replacement): /.exec(e.message || '');
      if (m) [, f] = m;
    }
    (out[f] = out[f] || []).push(e.message);
  }
  return out;
}

function notices() {
  return gql(`{ deprecationNotices { ${NOTICE} } }`).then((d) => d.deprecationNotices);
}

function ownersOf(rows) {
  return [...new Set(rows.map((r) => r.owner))].sort();
}

function affectedTable(rows, what) {
  if (!rows.length) return empty(`No live workflow depends on ${what}.`);
  const owners = ownersOf(rows);
  return [
    h('p', {}, `${rows.length} live workflow${rows.length === 1 ? ' depends' : 's depend'} on ${what}. Owner${owners.length === 1 ? '' : 's'}: `, h('strong', {}, owners.join(', ')), '.'),
    table([
      { label: 'Workflow', cell: (r) => link(`/workflows/${r.id}`, r.name) },
      { label: 'Template', cell: (r) => `${r.template} ${r.templateVersion}` },
      { label: 'Owner', cell: (r) => r.owner },
      { label: 'Status', cell: (r) => statusBadge(r.status) },
    ], rows, `Workflows using ${what}`),
  ];
}

/** The outcome of a publish: the notice as stored, and the instances and owners it reached. */
function drawPublished(box, n, name) {
  const rows = n.affectedInstances;
  const owners = ownersOf(rows);
  replace(box, h('section', { class: 'panel published', 'aria-labelledby': 'pub-h' },
    h('h3', { id: 'pub-h' }, `Published: ${name} ${n.version} is `, lifecycleBadge('DEPRECATED')),
    h('dl', { class: 'facts wide' },
      h('dt', {}, 'Sunset'), h('dd', {}, sunsetTime(n.sunsetAt), ` (${relative(n.sunsetAt)})`),
      h('dt', {}, 'Use instead'), h('dd', {}, replacementNode(n)),
      h('dt', {}, 'Notified'), h('dd', { class: 'notified' }, owners.length ? owners.join(', ') : 'nobody: no live workflow uses it')),
    rows.length ? affectedTable(rows, `${name} ${n.version}`) : null));
}

/** Every notice, newest first, with a "Retire" action once its sunset has passed. */
async function drawNotices(box, rows, reload) {
  if (!rows.length) {
    replace(box, empty('No deprecation notices yet.'));
    return;
  }
  const lifecycles = await lifecyclesOf(rows).catch(() => new Map());
  const retire = (n) => {
    const lc = lifecycles.get(`${n.kind} ${n.key} ${n.version}`);
    if (lc === 'RETIRED') return lifecycleBadge('RETIRED');
    if (!sunsetPassed(n)) return h('span', { class: 'muted' }, 'after the sunset');
    const b = h('button', { type: 'button', class: 'small danger' }, 'Retire ', h('span', { class: 'visually-hidden' }, `${n.key} ${n.version}`));
    b.addEventListener('click', async () => {
      if (!window.confirm(`Retire ${n.key} ${n.version}? Lifecycles only move forward.`)) return;
      b.disabled = true;
      try {
        await gql('mutation($k: Kind!, $key: String!, $v: String!) { setLifecycle(kind: $k, key: $key, version: $v, lifecycle: RETIRED) { version } }',
          { k: n.kind, key: n.key, v: n.version });
        announce(`${n.key} ${n.version} retired.`);
        reload();
      } catch (e) {
        b.disabled = false;
        b.after(errorBox(e, 'Not retired'));
      }
    });
    return b;
  };
  replace(box, table([
    { label: 'Item', cell: (n) => [link(`${KIND_INFO[n.kind].path}${encodeURIComponent(n.key)}#${noticeId(n)}`, `${n.key} ${n.version}`), h('div', { class: 'hint' }, KIND_INFO[n.kind].noun)] },
    { label: 'Sunset', cell: (n) => [sunsetTime(n.sunsetAt), h('div', { class: sunsetPassed(n) ? 'hint strong' : 'hint' }, sunsetPassed(n) ? 'passed' : relative(n.sunsetAt))] },
    { label: 'Use instead', cell: (n) => (n.replacement ? replacementNode(n) : h('span', { class: 'muted' }, '—')) },
    { label: 'Affected', cell: (n) => (n.affectedInstances.length ? `${n.affectedInstances.length} (${ownersOf(n.affectedInstances).join(', ')})` : 'none') },
    { label: 'Announced', cell: (n) => [n.createdBy, h('div', { class: 'hint' }, when(n.announcedAt))] },
    { label: 'Notes', cell: (n) => h('details', {}, h('summary', {}, 'Read'), h('p', {}, n.notes)) },
    { label: 'Retire', cell: retire },
  ], rows, `${rows.length} notice${rows.length === 1 ? '' : 's'}, newest first`));
}

/** Current lifecycle of each noticed version, keyed `KIND key version`. */
async function lifecyclesOf(rows) {
  const items = [...new Map(rows.map((n) => [`${n.kind} ${n.key}`, n])).values()];
  const decl = items.map((_, i) => `$k${i}: String!`).join(', ');
  const fields = items.map((n, i) => `i${i}: ${KIND_INFO[n.kind].field}(${KIND_INFO[n.kind].arg}: $k${i}) { versions { version lifecycle } }`).join(' ');
  const d = await gql(`query(${decl}) { ${fields} }`, Object.fromEntries(items.map((n, i) => [`k${i}`, n.key])));
  const out = new Map();
  items.forEach((n, i) => {
    for (const v of (d[`i${i}`] || { versions: [] }).versions) out.set(`${n.kind} ${n.key} ${v.version}`, v.lifecycle);
  });
  return out;
}

/** Live (not retired) instances that depend on `key` at `version`, as far as the caller can see. */
async function affectedInstances(kind, key, version) {
  const live = (list) => list.filter((i) => i.status !== 'retired');
  const INST = 'id name template templateVersion owner status bindings';
  if (kind === 'TEMPLATE') {
    const d = await gql(`query($t: String) { instances(template: $t) { ${INST} } }`, { t: key });
    return live(d.instances).filter((i) => i.templateVersion === version);
  }
  if (kind === 'CONNECTOR') {
    const d = await gql(`query($c: String) { instances { ${INST} } connections(connector: $c) { id connectorVersion } }`, { c: key });
    const ids = new Set(d.connections.filter((c) => c.connectorVersion === version).map((c) => c.id));
    return live(d.instances).filter((i) => Object.values(i.bindings || {}).some((c) => ids.has(Number(c))));
  }
  const d = await gql(`{ templates(first: 100) { edges { node { key versions { version reads } } } } instances { ${INST} } }`);
  const readers = new Set();
  for (const { node: t } of d.templates.edges) {
    for (const v of t.versions) if ((v.reads || []).some((r) => r.contract === key)) readers.add(`${t.key}@${v.version}`);
  }
  return live(d.instances).filter((i) => readers.has(`${i.template}@${i.templateVersion}`));
}
