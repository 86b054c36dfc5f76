// Compliance: the audit log with filters (actor, action, target, outcome, time), export of the
// filtered entries as JSON lines, and whether the hash chain verifies right now. Filters live in
// the URL, so a filtered view can be shared with an auditor.

import { gql } from '../api.js';
import { h, replace, loading, errorBox, empty, statusBadge, table, when, json, announce } from '../dom.js';
import { setQuery } from '../router.js';
import { contactSearch } from '../contact_search.js';

const LOG = `query($f: AuditFilter, $first: Int, $after: String) { auditLog(filter: $f, first: $first, after: $after) {
  edges { node { seq at actor roles action target outcome before after requestId prevHash hash } }
  pageInfo { hasNextPage endCursor } } }`;
const FILTERS = [
  ['actor', 'Actor', 'text', 'Who, e.g. alice'],
  ['action', 'Action', 'text', 'e.g. instance.create, catalog.lifecycle'],
  ['target', 'Target', 'text', 'Exact, or a prefix ending in * (instance:*)'],
  ['outcome', 'Outcome', 'select', ''],
  ['since', 'From (date)', 'date', 'Entries on or after this day (UTC)'],
  ['until', 'Before (date)', 'date', 'Entries before this day (UTC)'],
];
const EXPORT_LIMIT = 20000;

function filterFromQuery(q) {
  const f = {};
  for (const [k] of FILTERS) if (q.get(k)) f[k] = q.get(k);
  return f;
}

export async function render(main, ctx) {
  const filter = filterFromQuery(ctx.query);
  const chain = h('div', { class: 'panel chain', 'aria-live': 'polite' }, loading('Verifying the hash chain'));
  const results = h('div', { 'aria-live': 'polite' }, loading('Loading the audit log'));
  const inputs = {};
  const form = h('form', { class: 'filters audit-filters', role: 'search', 'aria-label': 'Filter the audit log' },
    FILTERS.map(([k, label, type, hint]) => {
      const id = `af-${k}`;
      const input = type === 'select'
        ? h('select', { id, name: k }, ['', 'allowed', 'denied'].map((o) => h('option', { value: o, selected: (filter[k] || '') === o }, o || 'Any')))
        : h('input', { id, name: k, type, value: filter[k] || '', placeholder: type === 'text' ? hint : null, autocomplete: 'off' });
      inputs[k] = input;
      return h('div', { class: 'field inline' }, h('label', { for: id }, label), input);
    }),
    h('div', { class: 'buttons' },
      h('button', { type: 'submit', class: 'primary' }, 'Apply filters'),
      h('button', { type: 'button', class: 'secondary', onclick: () => { Object.values(inputs).forEach((i) => { i.value = ''; }); apply(); } }, 'Clear')));
  const exportButton = h('button', { type: 'button' }, 'Export as JSON lines');
  const exportStatus = h('span', { class: 'muted', 'aria-live': 'polite' });
  replace(main,
    h('h1', {}, 'Audit log'),
    h('p', { class: 'lead' }, 'Every change and every refused attempt, in a hash chain that shows any edit, deletion or reordering.'),
    chain, form,
    h('div', { class: 'buttons' }, exportButton, ' ', exportStatus),
    results);
  ctx.titled('Audit log', ctx.focus);
  main.querySelector('.lead').after(contactSearch());

  const current = () => {
    const f = {};
    for (const [k] of FILTERS) if (inputs[k].value.trim()) f[k] = inputs[k].value.trim();
    return f;
  };
  const apply = () => {
    setQuery(current());
    drawEntries(results, current());
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); apply(); });
  exportButton.addEventListener('click', () => exportLines(current(), exportButton, exportStatus));
  drawChain(chain);
  drawEntries(results, filter);
}

async function drawChain(box) {
  try {
    const s = (await gql('{ auditChainStatus { ok entries firstBadSeq problem checkedAt } }')).auditChainStatus;
    replace(box, s.ok
      ? h('p', { class: 'chain-ok' }, h('strong', {}, '✓ The hash chain verifies.'), ` All ${s.entries} entries link to the one before and match their hashes (checked `, when(s.checkedAt), ').')
      : h('p', { class: 'chain-bad', role: 'alert' }, h('strong', {}, `✕ The chain is broken at entry ${s.firstBadSeq}.`), ` ${s.problem} ${s.entries} entries before it verify.`));
  } catch (e) {
    replace(box, errorBox(e, 'The chain could not be verified'));
  }
}

function entryTable(rows) {
  return table([
    { label: '#', cell: (e) => String(e.seq) },
    { label: 'When', cell: (e) => when(e.at) },
    { label: 'Actor', cell: (e) => [h('strong', {}, e.actor), e.roles.length ? h('div', { class: 'hint' }, e.roles.join(', ')) : null] },
    { label: 'Action', cell: (e) => h('code', {}, e.action) },
    { label: 'Target', cell: (e) => h('code', {}, e.target) },
    { label: 'Outcome', cell: (e) => statusBadge(e.outcome) },
    { label: 'Details', cell: (e) => (e.before || e.after ? h('details', {}, h('summary', {}, 'before / after'),
      e.before ? [h('p', { class: 'hint' }, 'Before'), json(e.before)] : null, e.after ? [h('p', { class: 'hint' }, 'After'), json(e.after)] : null) : h('span', { class: 'muted' }, '—')) },
  ], rows);
}

async function drawEntries(box, filter) {
  replace(box, loading('Loading the audit log'));
  const rows = [];
  let cursor = null;
  const more = h('button', { type: 'button', class: 'secondary' }, 'Load more');
  const tableHost = h('div');
  const page = async () => {
    more.disabled = true;
    try {
      const d = (await gql(LOG, { f: filter, first: 100, after: cursor })).auditLog;
      rows.push(...d.edges.map((e) => e.node));
      cursor = d.pageInfo.endCursor;
      more.hidden = !d.pageInfo.hasNextPage;
      replace(tableHost, rows.length ? entryTable(rows) : empty('No audit entries match these filters.'));
      announce(`${rows.length} audit entries shown`);
    } catch (e) {
      replace(tableHost, errorBox(e, 'The audit log could not be loaded'));
      more.hidden = true;
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener('click', page);
  replace(box, tableHost, more);
  await page();
}

/** Pages through the filtered log and downloads it, one JSON object per line (CLI field names). */
async function exportLines(filter, button, status) {
  button.disabled = true;
  const lines = [];
  let after = null;
  try {
    for (;;) {
      const d = (await gql(LOG, { f: filter, first: 100, after })).auditLog;
      for (const { node: e } of d.edges) {
        lines.push(JSON.stringify({
          seq: e.seq, at: e.at, actor: e.actor, roles: e.roles, action: e.action, target: e.target, outcome: e.outcome,
          before: e.before, after: e.after, request_id: e.requestId, prev_hash: e.prevHash, hash: e.hash,
        }));
      }
      status.textContent = `Exported ${lines.length} entries…`;
      if (!d.pageInfo.hasNextPage || lines.length >= EXPORT_LIMIT) break;
      after = d.pageInfo.endCursor;
    }
    const blob = new Blob([`${lines.join('\n')}\n`], { type: 'application/x-ndjson' });
    const a = h('a', { href: URL.createObjectURL(blob), download: `switchyard-audit-${new Date().toISOString().slice(0, 10)}.jsonl` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    status.textContent = `Exported ${lines.length} entries${lines.length >= EXPORT_LIMIT ? ' (the first 20,000; narrow the filters, or use `switchyard audit export`)' : ''}. For a signed checkpoint, use switchyard audit export.`;
  } catch (e) {
    status.textContent = `Export failed: ${e.message}`;
  } finally {
    button.disabled = false;
  }
}
