// My workflows: the caller's notifications first (e.g. a deprecation affecting one of their
// workflows), then every instance the user may see (their own, or everyone's), with health at a
// glance — status, last success, freshness, failures, dead letters and a run sparkline — and a
// mark on workflows whose template version is deprecated.

import { gql } from '../api.js';
import { h, link, replace, loading, errorBox, empty, statusBadge, when, ago, table } from '../dom.js';
import { setQuery } from '../router.js';
import { runs as listRuns, deadLetters, health } from '../execution.js';
import { runSparkline } from '../charts.js';
import { dateText, noticeId, sunsetPassed } from '../deprecation.js';

const INSTANCES = `{ instances { id name template templateVersion owner status approvedBy approverRoles createdAt }
  myNotifications { id topic target message createdAt }
  deprecationNotices(kind: TEMPLATE) { kind key version sunsetAt sunsetPassed replacement } }`;
const STATUSES = ['active', 'pending_approval', 'paused', 'retired'];

export async function render(main, ctx) {
  const state = { scope: ctx.query.get('scope') || 'mine', status: ctx.query.get('status') || '' };
  const list = h('div', { 'aria-live': 'polite' }, loading('Loading workflows'));
  const inbox = h('div');
  const scope = h('select', { id: 'wf-scope' },
    h('option', { value: 'mine', selected: state.scope === 'mine' }, 'Mine'),
    h('option', { value: 'all', selected: state.scope === 'all' }, 'Everyone’s I can see'));
  const status = h('select', { id: 'wf-status' }, h('option', { value: '' }, 'Any'),
    STATUSES.map((s) => h('option', { value: s, selected: s === state.status }, s.replace(/_/g, ' '))));
  replace(main,
    h('h1', {}, 'My workflows'),
    h('p', { class: 'lead' }, 'The workflows you set up from the catalog, and how they are doing.'),
    inbox,
    h('div', { class: 'filters' },
      h('div', { class: 'field inline' }, h('label', { for: 'wf-scope' }, 'Whose'), scope),
      h('div', { class: 'field inline' }, h('label', { for: 'wf-status' }, 'Status'), status)),
    list);
  ctx.titled('My workflows', ctx.focus);

  let all;
  let deprecated;
  try {
    const d = await gql(INSTANCES);
    all = d.instances;
    deprecated = new Map(d.deprecationNotices.map((n) => [`${n.key}@${n.version}`, n]));
    drawNotifications(inbox, d.myNotifications, all);
  } catch (e) {
    replace(list, errorBox(e, 'Workflows could not be loaded'));
    return;
  }
  const draw = () => {
    setQuery({ scope: state.scope === 'mine' ? '' : state.scope, status: state.status });
    const rows = all.filter((i) => (state.scope !== 'mine' || i.owner === ctx.me.sub) && (!state.status || i.status === state.status));
    if (!rows.length) {
      replace(list, empty(state.scope === 'mine' && !state.status ? 'You have not set up any workflows yet.' : 'No workflows match.',
        h('p', {}, link('/catalog', 'Find a template in the catalog'), ' and use it to set one up.')));
      return;
    }
    const healthCells = new Map(rows.map((r) => [r.id, h('span', { class: 'muted' }, 'loading…')]));
    replace(list,
      table([
        { label: 'Workflow', cell: (r) => link(`/workflows/${r.id}`, r.name) },
        { label: 'Template', cell: (r) => [link(`/templates/${encodeURIComponent(r.template)}`, r.template), h('span', { class: 'muted' }, ` ${r.templateVersion}`), deprecationMark(r, deprecated)] },
        { label: 'Status', cell: (r) => [statusBadge(r.status), r.status === 'pending_approval' ? h('div', { class: 'hint' }, `approver: ${r.approverRoles.join(' or ') || 'none named'}`) : null] },
        { label: 'Owner', cell: (r) => r.owner },
        { label: 'Health', cell: (r) => healthCells.get(r.id) },
        { label: 'Created', cell: (r) => when(r.createdAt) },
      ], rows, `${rows.length} workflow${rows.length === 1 ? '' : 's'}`));
    rows.forEach((r) => fillHealth(r, healthCells.get(r.id)));
  };
  scope.addEventListener('change', () => { state.scope = scope.value; draw(); });
  status.addEventListener('change', () => { state.status = status.value; draw(); });
  draw();
}

/** "deprecated · sunset 31 December 2026" under a workflow whose template version has a notice. */
function deprecationMark(inst, deprecated) {
  const n = deprecated.get(`${inst.template}@${inst.templateVersion}`);
  if (!n) return null;
  return h('div', { class: 'hint' },
    h('a', { href: `/templates/${encodeURIComponent(inst.template)}#${noticeId({ kind: 'TEMPLATE', ...n })}`, 'data-link': true, class: 'badge lc-deprecated' }, 'deprecated'),
    ` ${sunsetPassed(n) ? 'sunset was' : 'sunset'} ${dateText(n.sunsetAt)}`, n.replacement ? ` · move to ${n.replacement}` : '');
}

/** The caller's notifications, newest first, each with a link to the workflow it is about. */
function drawNotifications(box, notes, instances) {
  if (!notes.length) {
    replace(box);
    return;
  }
  const byId = new Map(instances.map((i) => [i.id, i]));
  const SHOWN = 5;
  const item = (n) => {
    const m = /^instance:(\d+)$/.exec(n.target);
    const inst = m ? byId.get(Number(m[1])) : null;
    return h('li', { class: `notification topic-${n.topic.replace(/[^a-z_-]/g, '')}` },
      h('p', { class: 'message' }, n.message),
      h('p', { class: 'hint' }, when(n.createdAt),
        inst ? [' · ', link(`/workflows/${inst.id}`, `Open “${inst.name}”`)] : null,
        inst && n.topic === 'deprecation' ? [' · ', link(`/templates/${encodeURIComponent(inst.template)}`, `About ${inst.template}`)] : null));
  };
  replace(box, h('section', { class: 'notifications', 'aria-labelledby': 'inbox-h' },
    h('h2', { id: 'inbox-h' }, 'Notifications ', h('span', { class: 'count' }, `(${notes.length})`)),
    h('ul', { class: 'notification-list' }, notes.slice(0, SHOWN).map(item)),
    notes.length > SHOWN ? h('details', {}, h('summary', {}, `${notes.length - SHOWN} older`), h('ul', { class: 'notification-list' }, notes.slice(SHOWN).map(item))) : null));
}

async function fillHealth(inst, cell) {
  try {
    const [runs, dead] = await Promise.all([
      listRuns(inst.id),
      deadLetters(inst.id).catch(() => []),
    ]);
    const hl = health(runs);
    const deadCount = dead.length;
    replace(cell,
      runSparkline(hl.recent),
      h('div', { class: 'hint' },
        hl.total ? `last success ${hl.lastSuccess ? ago(hl.lastSuccess) : 'never'} · last run ${ago(hl.lastRun)} · ${hl.failures} failed` : 'no runs yet'),
      deadCount ? h('div', { class: 'error-text' }, `${deadCount} dead letter${deadCount === 1 ? '' : 's'} to replay`) : null);
  } catch (e) {
    replace(cell, h('span', { class: 'muted' }, 'unavailable'));
  }
}
