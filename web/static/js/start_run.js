// "Start" for workflows that run when someone starts them (manual trigger, e.g. campaign
// approval): `startRun(instance, input)`, with an optional JSON input the steps read as `event`.
// The server checks the policy (`run` on the workflow), refuses other triggers and audits the
// start; whoever starts a run may not approve it.

import { gql } from './api.js';
import { h, replace, loading, errorBox, announce } from './dom.js';
import { runs as listRuns } from './execution.js';

/** Starts a run of manual workflow `id` with `input` (an object); resolves to the run. */
export async function startRun(id, input) {
  const q = 'mutation($i: Int!, $in: JSON) { startRun(instance: $i, input: $in) { id status detail startedBy } }';
  return (await gql(q, { i: id, in: input })).startRun;
}

/** Reads the optional input box: `{}` when empty, an object, or throws saying why not. */
function readInput(text) {
  if (!text.trim()) return {};
  let v;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`The input is not valid JSON: ${e.message}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('The input must be a JSON object, e.g. {"note": "ready"}');
  return v;
}

/**
 * Puts a "Start" button (and an optional input box) in `host` for an active workflow whose
 * template version starts by hand (`t.trigger.type === 'manual'`); after a start it redraws the
 * timeline until the new run has left `running`.
 */
export function offerStart(inst, t, host, status, redraw) {
  if (!t || !t.trigger || t.trigger.type !== 'manual') return;
  if (inst.status !== 'active') {
    host.append(h('span', { class: 'muted' }, ' Starts by hand; it can be started once it is active.'));
    return;
  }
  const input = h('textarea', { id: 'start-input', rows: '2', cols: '40', placeholder: '{}', 'aria-describedby': 'start-hint' });
  const b = h('button', { type: 'button', id: 'start-run', class: 'primary' }, 'Start');
  b.addEventListener('click', async () => {
    let value;
    try {
      value = readInput(input.value);
    } catch (e) {
      replace(status, errorBox(e, 'The run was not started'));
      input.focus();
      return;
    }
    b.disabled = true;
    replace(status, loading('Starting a run'));
    try {
      const run = await startRun(inst.id, value);
      replace(status, h('p', { class: 'notice ok', role: 'status', id: 'start-result' }, `Run #${run.id} started. It shows in the timeline below.`));
      announce('Run started.');
      // Redraw until the new run has left `running` (at most 30 s), the last time after it has.
      for (let i = 0; i < 30; i += 1) {
        const now = await listRuns(inst.id, 20).catch(() => []);
        const mine = now.find((r) => r.id === run.id);
        await redraw();
        if (mine && mine.status !== 'running') break;
        await new Promise((r) => { setTimeout(r, 1000); });
      }
    } catch (e) {
      replace(status, errorBox(e, 'The run was not started'));
    } finally {
      b.disabled = false;
    }
  });
  host.append(b, ' ',
    h('details', { class: 'start-input' }, h('summary', {}, 'Input (optional)'),
      h('label', { for: 'start-input' }, 'JSON object the steps read as the run\'s input'), input),
    h('span', { class: 'hint', id: 'start-hint' }, 'Starts by hand: press Start when it is ready. Someone else approves it.'));
}
