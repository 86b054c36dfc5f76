// My workflows: every instance the user may see (their own first, or everyone's), with health
// at a glance — status, last success, freshness, failures and a run sparkline — when the server
// offers run history.

import { gql } from '../api.js';
import { h, link, replace, loading, errorBox, empty, statusBadge, when, ago, table } from '../dom.js';
import { setQuery } from '../router.js';
import { execution, health } from '../execution.js';
import { runSparkline } from '../charts.js';

const INSTANCES = '{ instances { id name template templateVersion owner status approvedBy approverRoles createdAt } }';
const STATUSES = ['active', 'pending_approval', 'paused', 'retired'];

export async function render(main, ctx) {
  const state = { scope: ctx.query.get('scope') || 'mine', status: ctx.query.get('status') || '' };
  const list = h('div', { 'aria-live': 'polite' }, loading('Loading workflows'));
  const scope = h('select', { id: 'wf-scope' },
    h('option', { value: 'mine', selected: state.scope === 'mine' }, 'Mine'),
    h('option', { value: 'all', selected: state.scope === 'all' }, 'Everyone’s I can see'));
  const status = h('select', { id: 'wf-status' }, h('option', { value: '' }, 'Any'),
    STATUSES.map((s) => h('option', { value: s, selected: s === state.status }, s.replace(/_/g, ' '))));
  replace(main,
    h('h1', {}, 'My workflows'),
    h('p', { class: 'lead' }, 'The workflows you set up from the catalog, and how they are doing.'),
    h('div', { class: 'filters' },
      h('div', { class: 'field inline' }, h('label', { for: 'wf-scope' }, 'Whose'), scope),
      h('div', { class: 'field inline' }, h('label', { for: 'wf-status' }, 'Status'), status)),
    list);
  ctx.titled('My workflows', ctx.focus);

  let all;
  try {
    all = (await gql(INSTANCES)).instances;
  } catch (e) {
    replace(list, errorBox(e, 'Workflows could not be loaded'));
    return;
  }
  const exec = await execution().catch(() => ({}));
  const draw = () => {
    setQuery({ scope: state.scope === 'mine' ? '' : state.scope, status: state.status });
    const rows = all.filter((i) => (state.scope !== 'mine' || i.owner === ctx.me.sub) && (!state.status || i.status === state.status));
    if (!rows.length) {
      replace(list, empty(state.scope === 'mine' && !state.status ? 'You have not set up any workflows yet.' : 'No workflows match.',
        h('p', {}, link('/catalog', 'Find a template in the catalog'), ' and use it to set one up.')));
      return;
    }
    const healthCells = new Map(rows.map((r) => [r.id, h('span', { class: 'muted' }, exec.runs ? 'loading…' : 'not available')]));
    replace(list,
      exec.runs ? null : h('p', { class: 'notice' }, 'Run history is not available on this server yet; status is shown from the workflow itself.'),
      table([
        { label: 'Workflow', cell: (r) => link(`/workflows/${r.id}`, r.name) },
        { label: 'Template', cell: (r) => [link(`/templates/${encodeURIComponent(r.template)}`, r.template), h('span', { class: 'muted' }, ` ${r.templateVersion}`)] },
        { label: 'Status', cell: (r) => [statusBadge(r.status), r.status === 'pending_approval' ? h('div', { class: 'hint' }, `approver: ${r.approverRoles.join(' or ') || 'none named'}`) : null] },
        { label: 'Owner', cell: (r) => r.owner },
        { label: 'Health', cell: (r) => healthCells.get(r.id) },
        { label: 'Created', cell: (r) => when(r.createdAt) },
      ], rows, `${rows.length} workflow${rows.length === 1 ? '' : 's'}`));
    if (exec.runs) rows.forEach((r) => fillHealth(exec, r, healthCells.get(r.id)));
  };
  scope.addEventListener('change', () => { state.scope = scope.value; draw(); });
  status.addEventListener('change', () => { state.status = status.value; draw(); });
  draw();
}

async function fillHealth(exec, inst, cell) {
  try {
    const [runs, dead] = await Promise.all([
      exec.runs({ id: inst.id }),
      exec.deadLetters ? exec.deadLetters({ id: inst.id }).catch(() => []) : [],
    ]);
    const hl = health(runs || []);
    const deadCount = (dead || []).length;
    replace(cell,
      runSparkline(hl.recent),
      h('div', { class: 'hint' },
        hl.total ? `last success ${hl.lastSuccess ? ago(hl.lastSuccess) : 'never'} · last run ${ago(hl.lastRun)} · ${hl.failures} failed` : 'no runs yet'),
      deadCount ? h('div', { class: 'error-text' }, `${deadCount} dead letter${deadCount === 1 ? '' : 's'} to replay`) : null);
  } catch (e) {
    replace(cell, h('span', { class: 'muted' }, 'unavailable'));
  }
}
