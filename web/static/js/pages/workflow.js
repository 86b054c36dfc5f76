// One workflow: what it is and what data it may send, its health, a run and delivery timeline,
// and dead letters with their error text and a replay button. Pause, resume, retire and approve
// go through the same mutations (and policy) as any client.

import { gql, schema } from '../api.js';
import { h, link, replace, loading, errorBox, empty, statusBadge, when, ago, table, piiBadge, json, announce } from '../dom.js';
import { execution, health, outcome, deliveryError } from '../execution.js';
import { runSparkline, stackedBar } from '../charts.js';

const INSTANCE = `{ instances { id name template templateVersion owner status approvedBy approverRoles params bindings flows createdAt updatedAt } }`;
const ACTIONS = {
  pending_approval: [['approveInstance', 'Approve']],
  active: [['pauseInstance', 'Pause'], ['retireInstance', 'Retire']],
  paused: [['resumeInstance', 'Resume'], ['retireInstance', 'Retire']],
  retired: [],
};

export async function render(main, ctx) {
  const id = Number(ctx.params.id);
  replace(main, h('h1', {}, 'Workflow'), loading('Loading the workflow'));
  let inst;
  try {
    inst = (await gql(INSTANCE)).instances.find((i) => i.id === id);
  } catch (e) {
    replace(main, h('h1', {}, 'Workflow'), errorBox(e, 'The workflow could not be loaded'));
    ctx.titled('Workflow', ctx.focus);
    return;
  }
  if (!inst) {
    replace(main, h('h1', {}, 'Workflow not found'), h('p', {}, `There is no workflow #${id} you may see. `, link('/workflows', 'Back to my workflows')));
    ctx.titled('Workflow not found', ctx.focus);
    return;
  }
  const status = h('div', { 'aria-live': 'polite' });
  const actions = (ACTIONS[inst.status] || []).map(([mutation, label]) => {
    const b = h('button', { type: 'button', class: label === 'Retire' ? 'danger' : '' }, label);
    b.addEventListener('click', async () => {
      if (label === 'Retire' && !window.confirm(`Retire “${inst.name}”? It stops for good.`)) return;
      b.disabled = true;
      try {
        await gql(`mutation($id: Int!) { ${mutation}(id: $id) { id status } }`, { id });
        announce(`${label} done.`);
        render(main, { ...ctx, focus: true });
      } catch (e) {
        b.disabled = false;
        replace(status, errorBox(e, `${label} was refused`));
      }
    });
    return b;
  });
  const runNow = h('span');
  offerRunNow(inst, runNow, status);
  const healthBox = h('div', {}, loading('Loading run history'));
  const timeline = h('div', {});
  const dead = h('div', {});
  replace(main,
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, link('/workflows', 'My workflows'), ' › ', inst.name),
    h('h1', {}, inst.name, ' ', statusBadge(inst.status)),
    inst.status === 'pending_approval' ? h('p', { class: 'notice' }, `Waiting for approval by someone with the role ${inst.approverRoles.join(' or ') || '(none named)'}, other than ${inst.owner}.`) : null,
    h('div', { class: 'buttons' }, actions, runNow), status,
    h('div', { class: 'detail-grid' },
      h('div', { class: 'detail-main' },
        h('section', { 'aria-labelledby': 'health-h' }, h('h2', { id: 'health-h' }, 'Health'), healthBox),
        h('section', { 'aria-labelledby': 'runs-h' }, h('h2', { id: 'runs-h' }, 'Runs and deliveries'), timeline),
        h('section', { 'aria-labelledby': 'dead-h' }, h('h2', { id: 'dead-h' }, 'Dead letters'), dead)),
      h('aside', { class: 'detail-side' },
        h('dl', { class: 'facts' },
          h('dt', {}, 'Template'), h('dd', {}, link(`/templates/${encodeURIComponent(inst.template)}`, inst.template), ` ${inst.templateVersion}`),
          h('dt', {}, 'Owner'), h('dd', {}, inst.owner),
          h('dt', {}, 'Approved by'), h('dd', {}, inst.approvedBy || '—'),
          h('dt', {}, 'Created'), h('dd', {}, when(inst.createdAt)),
          h('dt', {}, 'Changed'), h('dd', {}, when(inst.updatedAt)),
          h('dt', {}, 'Connections'), h('dd', {}, Object.entries(inst.bindings || {}).map(([s, c]) => h('div', {}, `${s}: connection #${c}`)))),
        h('h2', {}, 'Data it may send'),
        h('ul', { class: 'flows' }, Object.entries(inst.flows || {}).map(([slot, f]) => h('li', {},
          h('p', {}, h('strong', {}, slot), ` → ${f.category}`),
          h('ul', { class: 'field-chips' }, Object.entries(f.fields || {}).map(([n, c]) => h('li', {}, h('code', {}, n), ' ', piiBadge(c))))))),
        h('details', {}, h('summary', {}, 'Settings'), json(inst.params)))));
  ctx.titled(inst.name, ctx.focus);
  const exec = await execution().catch(() => ({}));
  drawRuns(exec, inst, healthBox, timeline);
  drawDeadLetters(exec, inst, dead);
}

async function drawRuns(exec, inst, healthBox, timeline) {
  if (!exec.runs) {
    replace(healthBox, h('p', { class: 'notice' }, 'Run history is not available on this server yet.'));
    return;
  }
  let runs;
  try {
    runs = (await exec.runs({ id: inst.id })) || [];
  } catch (e) {
    replace(healthBox, errorBox(e, 'Runs could not be loaded'));
    return;
  }
  const hl = health(runs);
  const deadCount = exec.deadLetters ? ((await exec.deadLetters({ id: inst.id }).catch(() => [])) || []).length : null;
  const counts = ['ok', 'bad', 'other'].map((k) => runs.filter((r) => outcome(r.status) === k).length);
  replace(healthBox,
    h('div', { class: 'health' },
      h('div', { class: 'stat' }, h('span', { class: 'stat-label' }, 'Last success'), h('span', { class: 'stat-value' }, hl.lastSuccess ? ago(hl.lastSuccess) : 'never')),
      h('div', { class: 'stat' }, h('span', { class: 'stat-label' }, 'Last run'), h('span', { class: 'stat-value' }, hl.lastRun ? ago(hl.lastRun) : 'none yet')),
      h('div', { class: 'stat' }, h('span', { class: 'stat-label' }, 'Failed runs'), h('span', { class: 'stat-value' }, String(hl.failures))),
      deadCount === null ? null : h('div', { class: `stat${deadCount ? ' bad' : ''}` }, h('span', { class: 'stat-label' }, 'Dead letters'), h('a', { class: 'stat-value', href: '#dead-h' }, String(deadCount))),
      h('div', { class: 'stat' }, h('span', { class: 'stat-label' }, hl.recent.length ? `Last ${hl.recent.length} runs` : 'Runs'), runSparkline(hl.recent, { width: 200, height: 32 }))),
    runs.length ? stackedBar([{ label: 'succeeded', count: counts[0], cls: 'bar-ok' }, { label: 'failed', count: counts[1], cls: 'bar-bad' }, { label: 'other', count: counts[2], cls: 'bar-other' }], { width: 320 }) : null);
  if (!runs.length) {
    replace(timeline, empty('No runs yet. A run starts when the trigger fires (an event arrives, or the schedule ticks).'));
    return;
  }
  const time = (r) => r.startedAt || r.createdAt || '';
  const sorted = [...runs].sort((a, b) => time(b).localeCompare(time(a))).slice(0, 50);
  replace(timeline, h('ol', { class: 'timeline' }, sorted.map((r) => runItem(exec, r))));
}

function runItem(exec, run) {
  const box = h('div', {});
  const more = exec.deliveries ? h('button', { type: 'button', class: 'small secondary', 'aria-expanded': 'false' }, 'Show deliveries') : null;
  if (more) {
    more.addEventListener('click', async () => {
      const open = more.getAttribute('aria-expanded') === 'true';
      more.setAttribute('aria-expanded', String(!open));
      more.textContent = open ? 'Show deliveries' : 'Hide deliveries';
      if (open) { replace(box); return; }
      replace(box, loading('Loading deliveries'));
      try {
        replace(box, deliveriesTable(await exec.deliveries({ id: run.id }) || []));
      } catch (e) {
        replace(box, errorBox(e));
      }
    });
  }
  return h('li', { class: `run ${outcome(run.status)}` },
    h('div', { class: 'run-head' }, statusBadge(run.status), ' ', when(run.startedAt || run.createdAt),
      run.latencyMs != null ? h('span', { class: 'muted' }, ` · ${run.latencyMs} ms`) : null,
      run.step ? h('span', { class: 'muted' }, ` · last step ${run.step}`) : null, ' ', more),
    run.detail ? h('p', { class: 'run-detail' }, run.detail) : null, box);
}

function deliveriesTable(rows) {
  if (!rows.length) return h('p', { class: 'muted' }, 'This run sent nothing.');
  return table([
    { label: 'Destination', cell: (d) => `${d.slot || ''} ${d.connector ? `(${d.connector})` : ''}` },
    { label: 'Status', cell: (d) => statusBadge(d.status) },
    { label: 'Attempts', cell: (d) => String(d.attempts ?? '—') },
    { label: 'Latency', cell: (d) => (d.latencyMs != null ? `${d.latencyMs} ms` : '—') },
    { label: 'Response', cell: (d) => (d.responseCode || d.lastStatusCode ? `HTTP ${d.responseCode || d.lastStatusCode}` : '—') },
    { label: 'Error', cell: (d) => (d.error || d.lastError ? h('span', { class: 'error-text' }, d.error || d.lastError) : '—') },
  ], rows);
}

/** Dead letters of `inst` in `box`; `message` (e.g. a replay's outcome) is shown above them. */
async function drawDeadLetters(exec, inst, box, message = null) {
  if (!exec.deadLetters) {
    replace(box, h('p', { class: 'notice' }, 'Dead letters are not available on this server yet.'));
    return;
  }
  replace(box, loading('Loading dead letters'));
  let rows;
  try {
    rows = (await exec.deadLetters({ id: inst.id })) || [];
  } catch (e) {
    replace(box, errorBox(e, 'Dead letters could not be loaded'));
    return;
  }
  if (!rows.length) {
    replace(box, message, empty('No dead letters: every delivery either went through or is still being retried.'));
    return;
  }
  const picks = new Map(rows.map((d) => [d.id, h('input', { type: 'checkbox', id: `dl-${d.id}`, checked: true })]));
  const result = h('div', { 'aria-live': 'polite' });
  const replay = h('button', { type: 'button', class: 'primary' }, 'Replay selected');
  replay.disabled = !exec.replay;
  replay.addEventListener('click', async () => {
    const ids = rows.filter((d) => picks.get(d.id).checked).map((d) => d.id);
    if (!ids.length) { replace(result, h('p', { class: 'field-error' }, 'Select at least one dead letter.')); return; }
    replay.disabled = true;
    try {
      const r = await exec.replay({ id: inst.id, ids });
      drawDeadLetters(exec, inst, box, replaySummary(r));
    } catch (e) {
      replay.disabled = false;
      replace(result, errorBox(e, 'Replay was refused'));
    }
  });
  replace(box, message,
    table([
      { label: 'Replay', cell: (d) => [picks.get(d.id), h('label', { for: `dl-${d.id}`, class: 'visually-hidden' }, `Replay delivery ${d.id}`)] },
      { label: 'Destination', cell: (d) => `${d.slot || ''} ${d.connector ? `(${d.connector})` : ''}` },
      { label: 'Attempts', cell: (d) => String(d.attempts ?? '—') },
      { label: 'Error', cell: (d) => h('span', { class: 'error-text' }, deliveryError(d) || 'unknown') },
      { label: 'Last try', cell: (d) => when(d.updatedAt || d.createdAt) },
    ], rows, `${rows.length} dead letter${rows.length === 1 ? '' : 's'}`),
    h('div', { class: 'buttons' }, replay, exec.replay ? null : h('span', { class: 'muted' }, ' Replay is not available on this server yet.')),
    result);
}

/** "2 queued for another attempt; 1 not: the policy no longer allows …". */
function replaySummary(r) {
  if (!Array.isArray(r)) return h('p', { class: 'notice ok' }, 'Replay queued.');
  const done = r.filter((x) => x.replayed !== false);
  const refused = r.filter((x) => x.replayed === false);
  return h('div', { class: refused.length ? 'notice' : 'notice ok', role: 'status' },
    h('p', {}, `${done.length} dead letter${done.length === 1 ? '' : 's'} queued for another attempt.`),
    refused.length ? h('ul', {}, refused.map((x) => h('li', {}, `Delivery ${x.delivery} not replayed: ${x.reason || 'no reason given'}`))) : null);
}

/** A "Run now" button for active scheduled workflows, when the server offers `runInstanceNow`. */
async function offerRunNow(inst, host, status) {
  if (inst.status !== 'active') return;
  try {
    const [s, t] = await Promise.all([schema(), gql('query($k: String!) { template(key: $k) { versions { version trigger } } }', { k: inst.template })]);
    const v = t.template && t.template.versions.find((x) => x.version === inst.templateVersion);
    if (!s.mutation.has('runInstanceNow') || !v || !v.trigger || v.trigger.type !== 'schedule') return;
  } catch (e) {
    return;
  }
  const b = h('button', { type: 'button' }, 'Run now');
  b.addEventListener('click', async () => {
    b.disabled = true;
    try {
      const d = await gql('mutation($id: Int!) { runInstanceNow(id: $id) }', { id: inst.id });
      replace(status, h('p', { class: 'notice ok', role: 'status' }, `Queued a run for ${d.runInstanceNow}. Reload to see it in the timeline.`));
    } catch (e) {
      replace(status, errorBox(e, 'The run was not started'));
    } finally {
      b.disabled = false;
    }
  });
  replace(host, b);
}
