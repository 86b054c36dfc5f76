// Runs, deliveries and dead letters of a workflow (`runs(instance)`, `deliveries(run)`,
// `deadLetters(instance)`), replaying dead letters (`replayDeadLetters(ids)`) and running a
// scheduled workflow now (`runInstanceNow`), plus how the pages read a status: worked, failed,
// or neither (yet), and which record values the server masked. Only the fields the pages show
// are asked for.

import { gql } from './api.js';

const RUN = 'id instance eventId status step detail startedAt finishedAt latencyMs startedBy';
const DELIVERY = 'id run instance step slot connection connector status attempts responseCode error latencyMs nextAttemptAt replays createdAt updatedAt record';

/** Runs of instance `id`, newest first (at most `first`). */
export async function runs(id, first = 50) {
  return (await gql(`query($i: Int!, $f: Int) { runs(instance: $i, first: $f) { ${RUN} } }`, { i: id, f: first })).runs;
}

/** Deliveries of run `id`. */
export async function deliveries(id) {
  return (await gql(`query($r: Int!) { deliveries(run: $r) { ${DELIVERY} } }`, { r: id })).deliveries;
}

/** Dead letters of instance `id`. */
export async function deadLetters(id) {
  return (await gql(`query($i: Int!) { deadLetters(instance: $i, first: 100) { ${DELIVERY} } }`, { i: id })).deadLetters;
}

/** Gives the dead letters `ids` another attempt; resolves to `[{delivery, replayed, reason}]`. */
export async function replay(ids) {
  return (await gql('mutation($ids: [Int!]) { replayDeadLetters(ids: $ids) { delivery replayed reason } }', { ids })).replayDeadLetters;
}

/** Queues a run of scheduled instance `id` now; resolves to the tick it was queued for. */
export async function runNow(id) {
  return (await gql('mutation($i: Int!) { runInstanceNow(id: $i) }', { i: id })).runInstanceNow;
}

/** Approves (`approve` true) or rejects a run waiting at an approve step; resolves to the run. */
export async function decideRun(id, approve) {
  const field = approve ? 'approveRun' : 'rejectRun';
  return (await gql(`mutation($r: Int!) { ${field}(id: $r) { ${RUN} } }`, { r: id }))[field];
}

/**
 * The PII class of a value the server masked (`"[masked: personal]"`), or null for a value shown
 * in full. Personal and sensitive values are shown only to those the policy lets read them.
 */
export function maskedClass(value) {
  const m = typeof value === 'string' ? /^\[masked: ([a-z_]+)\]$/.exec(value) : null;
  return m ? m[1] : null;
}

const OK = ['succeeded', 'delivered'];
const BAD = ['failed', 'dead', 'rejected'];

/** The error text of a delivery, with its HTTP status when there was one. */
export function deliveryError(d) {
  const text = d.error;
  const code = d.responseCode;
  if (text && code) return text.includes(String(code)) ? text : `${text} (HTTP ${code})`;
  return text || (code ? `HTTP ${code}` : '');
}

/** Whether a run or delivery status means it worked, failed, or neither (yet). */
export function outcome(status) {
  const s = String(status || '').toLowerCase();
  if (OK.includes(s)) return 'ok';
  if (BAD.includes(s)) return 'bad';
  return 'other';
}

/** Health at a glance from runs (any order). */
export function health(list) {
  const time = (r) => r.finishedAt || r.startedAt || '';
  const sorted = [...list].sort((a, b) => time(b).localeCompare(time(a)));
  const lastOk = sorted.find((r) => outcome(r.status) === 'ok');
  return {
    total: list.length,
    failures: list.filter((r) => outcome(r.status) === 'bad').length,
    lastSuccess: lastOk ? time(lastOk) : null,
    lastRun: sorted[0] ? time(sorted[0]) : null,
    recent: sorted.slice(0, 30).reverse(),
  };
}
