// One workflow: what it is and what data it may send, a deprecation banner when its template
// version is going away, its health, a run and delivery timeline, and dead letters with their
// error text and a replay button. Pause, resume, retire, approve and "Run now" (scheduled
// workflows) go through the same mutations (and policy) as any client.

import { gql } from '../api.js';
import { h, link, replace, loading, errorBox, empty, statusBadge, when, ago, table, piiBadge, json, announce } from '../dom.js';
import { runs as listRuns, deliveries, deadLetters, replay, runNow, decideRun, health, outcome, deliveryError, maskedClass } from '../execution.js';
import { runSparkline, stackedBar } from '../charts.js';
import { NOTICE, noticeBanner } from '../deprecation.js';
import { cronText } from '../flows.js';
import { lineagePanel } from '../lineage_panel.js';
import { liveUpdates } from '../live_workflow.js';
import { offerStart } from '../start_run.js';
import { offerMove } from '../migrate_offer.js';

const INSTANCE = `{ instances { id name template templateVersion owner ownerTeam status approvedBy approverRoles params bindings flows createdAt updatedAt } }`;
const ACTIONS = {
  pending_approval: [['approveInstance', 'Approve']],
  active: [['pauseInstance', 'Pause'], ['retireInstance', 'Retire']],
  paused: [['resumeInstance', 'Resume'], ['retireInstance', 'Retire']],
  retired: [],
};

/**
 * Which lifecycle buttons the policy lets the user press on `inst`, asked with their relation
 * to its owner (own, team, other) — the server decides again on every press.
 */
async function allowedActions(inst, me) {
  const rel = inst.owner === me.sub ? 'own' : (inst.ownerTeam && inst.ownerTeam === me.team ? 'team' : 'other');
  try {
    const d = await gql(`query($w: String!, $t: String!, $r: String!) { me {
      pauseInstance: can(object: $w, action: "pause", relation: $r)
      resumeInstance: can(object: $w, action: "resume", relation: $r)
      retireInstance: can(object: $w, action: "retire", relation: $r)
      approveInstance: can(object: $t, action: "approve", relation: $r) } }`,
    { w: `workflow:${inst.template}`, t: `catalog:template:${inst.template}`, r: rel });
    return (ACTIONS[inst.status] || []).filter(([m]) => d.me[m]);
  } catch (e) {
    return ACTIONS[inst.status] || [];
  }
}

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
  const actions = (await allowedActions(inst, ctx.me || {})).map(([mutation, label]) => {
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
  const healthBox = h('div', {}, loading('Loading run history'));
  const timeline = h('div', {});
  const dead = h('div', {});
  const redraw = () => drawRuns(inst, healthBox, timeline);
  const runNowHost = h('span', { class: 'run-now' });
  const deprecation = h('div');
  templateInfo(inst).then((t) => {
    offerRunNow(inst, t, runNowHost, status, redraw);
    offerStart(inst, t, runNowHost, status, redraw);
    if (t.notice) replace(deprecation, noticeBanner(t.notice, { lifecycle: t.lifecycle, intro: `This workflow uses ${inst.template} ${inst.templateVersion}.` }));
    if (t.notice) offerMove(inst, deprecation);
  }).catch(() => {});
  replace(main,
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, link('/workflows', 'My workflows'), ' › ', inst.name),
    h('h1', {}, inst.name, ' ', statusBadge(inst.status)),
    inst.status === 'pending_approval' ? h('p', { class: 'notice' }, `Waiting for approval by someone with the role ${inst.approverRoles.join(' or ') || '(none named)'}, other than ${inst.owner}.`) : null,
    deprecation,
    h('div', { class: 'buttons' }, actions, runNowHost), status,
    h('div', { class: 'detail-grid' },
      h('div', { class: 'detail-main' },
        h('section', { 'aria-labelledby': 'health-h' }, h('h2', { id: 'health-h' }, 'Health'), healthBox),
        h('section', { 'aria-labelledby': 'runs-h' }, h('h2', { id: 'runs-h' }, 'Runs and deliveries'), timeline),
        h('section', { 'aria-labelledby': 'dead-h' }, h('h2', { id: 'dead-h' }, 'Dead letters'), dead)),
      h('aside', { class: 'detail-side' },
        h('dl', { class: 'facts' },
          h('dt', {}, 'Template'), h('dd', {}, link(`/templates/${encodeURIComponent(inst.template)}`, inst.template), ` ${inst.templateVersion}`),
          h('dt', {}, 'Owner'), h('dd', {}, inst.owner, inst.ownerTeam ? h('span', { class: 'muted' }, ` (team ${inst.ownerTeam})`) : null),
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
  redraw();
  drawDeadLetters(inst, dead);
  main.querySelector('#runs-h').after(liveUpdates(inst, redraw));
  main.querySelector('.detail-main').append(lineagePanel(inst));
}

/** The template version's trigger and lifecycle, and its deprecation notice if it has one. */
async function templateInfo(inst) {
  const d = await gql(`query($k: String!, $v: String!) { template(key: $k) { version(version: $v) { lifecycle trigger } }
    deprecationNotices(kind: TEMPLATE, key: $k) { ${NOTICE} } }`, { k: inst.template, v: inst.templateVersion });
  const v = (d.template && d.template.version) || {};
  return {
    lifecycle: v.lifecycle,
    trigger: v.trigger || {},
    notice: d.deprecationNotices.find((n) => n.version === inst.templateVersion) || null,
  };
}

async function drawRuns(inst, healthBox, timeline) {
  let runs;
  let deadCount = null;
  try {
    [runs, deadCount] = await Promise.all([
      listRuns(inst.id),
      deadLetters(inst.id).then((d) => d.length).catch(() => null),
    ]);
  } catch (e) {
    replace(healthBox, errorBox(e, 'Runs could not be loaded'));
    return;
  }
  const hl = health(runs);
  const counts = ['ok', 'bad', 'other'].map((k) => runs.filter((r) => outcome(r.status) === k).length);
  replace(healthBox,
    h('div', { class: 'health' },
      h('div', { class: 'stat' }, h('span', { class: 'stat-label' }, 'Last success'), h('span', { class: 'stat-value' }, hl.lastSuccess ? ago(hl.lastSuccess) : 'never')),
      h('div', { class: 'stat' }, h('span', { class: 'stat-label' }, 'Last run'), h('span', { class: 'stat-value' }, hl.lastRun ? ago(hl.lastRun) : 'none yet')),
      h('div', { class: 'stat' }, h('span', { class: 'stat-label' }, 'Failed runs'), h('span', { class: 'stat-value' }, String(hl.failures))),
      deadCount === null ? null : h('div', { class: `stat${deadCount ? ' bad' : ''}` }, h('span', { class: 'stat-label' }, 'Dead letters'), h('a', { class: 'stat-value', href: '#dead-h' }, String(deadCount))),
      h('div', { class: 'stat' }, h('span', { class: 'stat-label' }, hl.recent.length > 1 ? `Last ${hl.recent.length} runs` : 'Runs'), runSparkline(hl.recent, { width: 200, height: 32 }))),
    runs.length ? stackedBar([{ label: 'succeeded', count: counts[0], cls: 'bar-ok' }, { label: 'failed', count: counts[1], cls: 'bar-bad' }, { label: 'other', count: counts[2], cls: 'bar-other' }], { width: 320 }) : null);
  if (!runs.length) {
    replace(timeline, empty('No runs yet. A run starts when the trigger fires (an event arrives, or the schedule ticks).'));
    return;
  }
  const sorted = [...runs].sort((a, b) => b.startedAt.localeCompare(a.startedAt) || b.id - a.id).slice(0, 50);
  replace(timeline, h('ol', { class: 'timeline', 'aria-label': 'Runs, newest first' }, sorted.map((r) => runItem(r))));
}

function runItem(run) {
  const box = h('div', { id: `run-${run.id}-deliveries` });
  const more = h('button', { type: 'button', class: 'small secondary', 'aria-expanded': 'false', 'aria-controls': box.id }, 'Show deliveries');
  more.addEventListener('click', async () => {
    const open = more.getAttribute('aria-expanded') === 'true';
    more.setAttribute('aria-expanded', String(!open));
    more.textContent = open ? 'Show deliveries' : 'Hide deliveries';
    if (open) { replace(box); return; }
    replace(box, loading('Loading deliveries'));
    try {
      replace(box, deliveriesTable(await deliveries(run.id)));
    } catch (e) {
      replace(box, errorBox(e));
    }
  });
  return h('li', { class: `run ${outcome(run.status)}` },
    h('div', { class: 'run-head' }, statusBadge(run.status), ' ', when(run.startedAt), run.eventId ? h('span', { class: 'muted' }, ` · event ${run.eventId}`) : h('span', { class: 'muted' }, run.startedBy ? ` · started by ${run.startedBy}` : ' · scheduled'),
      run.latencyMs != null ? h('span', { class: 'muted' }, ` · ${run.latencyMs} ms`) : null,
      run.step ? h('span', { class: 'muted' }, ` · last step ${run.step}`) : null, ' ', more),
    run.detail ? h('p', { class: 'run-detail' }, run.detail) : null,
    run.status === 'waiting_approval' ? approvalButtons(run) : null, box);
}

/** Approve / Reject for a run held at an approve step (four eyes: not the workflow's owner). */
function approvalButtons(run) {
  const result = h('p', { 'aria-live': 'polite' });
  const decide = (approve) => async () => {
    yes.disabled = true;
    no.disabled = true;
    try {
      const r = await decideRun(run.id, approve);
      replace(result, r.detail || r.status);
    } catch (e) {
      yes.disabled = false;
      no.disabled = false;
      replace(result, errorBox(e, approve ? 'Approval was refused' : 'Rejection was refused'));
    }
  };
  const yes = h('button', { type: 'button', class: 'small primary' }, 'Approve run');
  const no = h('button', { type: 'button', class: 'small secondary' }, 'Reject run');
  yes.addEventListener('click', decide(true));
  no.addEventListener('click', decide(false));
  return h('div', { class: 'run-approval' }, yes, ' ', no, result);
}

function deliveriesTable(rows) {
  if (!rows.length) return h('p', { class: 'muted' }, 'This run sent nothing.');
  return table([
    { label: 'Destination', cell: (d) => `${d.slot} (${d.connector})` },
    { label: 'Status', cell: (d) => [statusBadge(d.status), d.status === 'retrying' && d.nextAttemptAt ? h('div', { class: 'hint' }, 'next try ', when(d.nextAttemptAt)) : null] },
    { label: 'Attempts', cell: (d) => String(d.attempts) + (d.replays ? ` (${d.replays} replay${d.replays === 1 ? '' : 's'})` : '') },
    { label: 'Latency', cell: (d) => (d.latencyMs != null ? `${d.latencyMs} ms` : '—') },
    { label: 'Response', cell: (d) => (d.responseCode ? `HTTP ${d.responseCode}` : '—') },
    { label: 'Error', cell: (d) => (d.error ? h('span', { class: 'error-text' }, d.error) : '—') },
    { label: 'Record', cell: (d) => recordView(d.record) },
  ], rows);
}

/** The record as sent: each field with its value, or a badge with its class where it is masked. */
function recordView(record) {
  if (!record || typeof record !== 'object' || !Object.keys(record).length) return '—';
  const value = (v) => {
    const cls = maskedClass(v);
    if (cls) return h('span', { class: 'masked', title: `Hidden: you may not read ${cls} data of this workflow` }, piiBadge(cls), h('span', { class: 'muted' }, ' hidden'));
    if (v && typeof v === 'object') return h('code', {}, JSON.stringify(v).replace(/"\[masked: ([a-z_]+)\]"/g, '[$1 hidden]'));
    return h('code', {}, String(v));
  };
  const n = Object.keys(record).length;
  return h('details', { class: 'record' }, h('summary', {}, `${n} field${n === 1 ? '' : 's'}`),
    h('dl', { class: 'record-fields' }, Object.entries(record).map(([k, v]) => [h('dt', {}, k), h('dd', {}, value(v))])));
}

/** Dead letters of `inst` in `box`; `message` (e.g. a replay's outcome) is shown above them. */
async function drawDeadLetters(inst, box, message = null) {
  replace(box, loading('Loading dead letters'));
  let rows;
  try {
    rows = await deadLetters(inst.id);
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
  const replayButton = h('button', { type: 'button', class: 'primary' }, 'Replay selected');
  replayButton.addEventListener('click', async () => {
    const ids = rows.filter((d) => picks.get(d.id).checked).map((d) => d.id);
    if (!ids.length) { replace(result, h('p', { class: 'field-error' }, 'Select at least one dead letter.')); return; }
    replayButton.disabled = true;
    try {
      const r = await replay(ids);
      drawDeadLetters(inst, box, replaySummary(r));
    } catch (e) {
      replayButton.disabled = false;
      replace(result, errorBox(e, 'Replay was refused'));
    }
  });
  replace(box, message,
    table([
      { label: 'Replay', cell: (d) => [picks.get(d.id), h('label', { for: `dl-${d.id}`, class: 'visually-hidden' }, `Replay delivery ${d.id}`)] },
      { label: 'Destination', cell: (d) => `${d.slot} (${d.connector})` },
      { label: 'Attempts', cell: (d) => String(d.attempts) + (d.replays ? ` (${d.replays} replay${d.replays === 1 ? '' : 's'})` : '') },
      { label: 'Error', cell: (d) => h('span', { class: 'error-text' }, deliveryError(d) || 'unknown') },
      { label: 'Last try', cell: (d) => when(d.updatedAt) },
    ], rows, `${rows.length} dead letter${rows.length === 1 ? '' : 's'}`),
    h('div', { class: 'buttons' }, replayButton),
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

/**
 * A "Run now" button for active workflows that run on a schedule (audience sync, reporting
 * export): queues a run, then redraws the timeline until the new run shows up.
 */
function offerRunNow(inst, t, host, status, redraw) {
  if (t.trigger.type !== 'schedule') return;
  const every = cronText(t.trigger.cron);
  const sched = every ? ` ${every}` : t.trigger.cron ? ` (${t.trigger.cron})` : '';
  if (inst.status !== 'active') {
    replace(host, h('span', { class: 'muted' }, `Runs on a schedule${sched}; it can be run now once it is active.`));
    return;
  }
  const b = h('button', { type: 'button', id: 'run-now', 'aria-describedby': 'run-now-hint' }, 'Run now');
  b.addEventListener('click', async () => {
    b.disabled = true;
    replace(status, loading('Queuing a run'));
    try {
      const before = (await listRuns(inst.id, 100)).length;
      const tick = await runNow(inst.id);
      replace(status, h('p', { class: 'notice ok', role: 'status' }, `Run queued (${new Date(tick).toLocaleString()}). It shows in the timeline below when it starts.`));
      announce('Run queued.');
      // Poll for up to 30 s: redraw when the run appears, stop once it has finished.
      for (let i = 0; i < 30; i += 1) {
        await new Promise((r) => { setTimeout(r, 1000); });
        const now = await listRuns(inst.id, 100).catch(() => []);
        if (now.length > before) {
          await redraw();
          if (now.every((r) => r.status !== 'running')) break;
        }
      }
    } catch (e) {
      replace(status, errorBox(e, 'The run was not started'));
    } finally {
      b.disabled = false;
    }
  });
  replace(host, b, h('span', { class: 'hint', id: 'run-now-hint' }, `Runs on a schedule${sched}; run it now instead of waiting.`));
}
