// "Where did this come from / where did it go": the lineage panel of a workflow page. Given an
// event id (prefilled with the newest run's event) or a delivery number, it asks `lineage` and
// shows the source event (contract version, write key or source, when it arrived), then for each
// workflow it reached: the template version, every step's decision, and each destination with
// the fields sent and withheld (and the flow rule that decided) and the destination's answer.
// Chains of workflows are followed: a hop started by another workflow's emitted event says so,
// and a hop that emitted events lists them (each a link to trace it further).

import { gql } from './api.js';
import { h, replace, loading, errorBox, empty, statusBadge, when, piiBadge } from './dom.js';
import { runs as listRuns } from './execution.js';

const FIELD = 'field class rule';
const LINEAGE = `query($e: String, $d: Int) { lineage(event: $e, delivery: $d) {
  event { id contract contractVersion source receivedAt }
  hops { instance instanceName template templateVersion run runStatus emitted
    event { id contract emittedByRun chain }
    steps { step kind decision detail }
    deliveries { id step slot connector connection status attempts responseCode error updatedAt
      sent { ${FIELD} } withheld { ${FIELD} } missing } } } }`;

function fields(list, withRule) {
  if (!list.length) return h('span', { class: 'muted' }, 'none');
  return h('ul', { class: 'field-chips' }, list.map((f) => h('li', {},
    h('code', {}, f.field), ' ', piiBadge(f.class),
    withRule && f.rule ? h('span', { class: 'hint' }, ` ${f.rule}`) : null)));
}

function delivery(d) {
  return h('li', { class: 'lineage-delivery' },
    h('p', {}, h('strong', {}, `${d.slot} (${d.connector})`), ' ', statusBadge(d.status),
      h('span', { class: 'muted' }, ` · delivery ${d.id} · ${d.attempts} attempt${d.attempts === 1 ? '' : 's'}`),
      d.responseCode ? h('span', { class: 'muted' }, ` · answered HTTP ${d.responseCode}`) : null, ' · ', when(d.updatedAt)),
    d.error ? h('p', { class: 'error-text' }, d.error) : null,
    h('dl', { class: 'facts' },
      h('dt', {}, 'Sent'), h('dd', {}, fields(d.sent, true)),
      h('dt', {}, 'Withheld'), h('dd', {}, fields(d.withheld, true)),
      d.missing.length ? [h('dt', {}, 'Not in the input'), h('dd', {}, d.missing.join(', '))] : null));
}

function hop(x, current, trace) {
  const started = x.event && x.event.emittedByRun
    ? h('p', { class: 'hint lineage-chain' }, `Started by ${x.event.contract} (`, h('code', {}, x.event.id),
      `), emitted by run ${x.event.emittedByRun}; chain of workflows: ${x.event.chain.map((i) => `#${i}`).join(' → ')}`)
    : null;
  const emitted = x.emitted.length
    ? h('p', { class: 'lineage-emitted' }, 'Emitted: ', x.emitted.map((id) =>
      h('button', { type: 'button', class: 'link', onclick: () => trace(id) }, id)))
    : null;
  return h('li', { class: `lineage-hop${x.instance === current ? ' current' : ''}` },
    h('h4', {}, x.instanceName, h('span', { class: 'muted' }, ` · ${x.template} ${x.templateVersion} · run ${x.run} `), statusBadge(x.runStatus)),
    started, emitted,
    h('ol', { class: 'lineage-steps', 'aria-label': 'Step decisions, in order' }, x.steps.map((s) => h('li', {},
      h('code', {}, s.step), ' ', h('span', { class: `badge decision-${s.decision}` }, s.decision), s.detail ? ` ${s.detail}` : ''))),
    x.deliveries.length
      ? h('ul', { class: 'lineage-deliveries', 'aria-label': 'Destinations' }, x.deliveries.map(delivery))
      : h('p', { class: 'muted' }, 'Nothing was delivered on this path.'));
}

function show(out, l, inst, trace) {
  const e = l.event;
  replace(out,
    h('h3', {}, 'Where it came from'),
    e ? h('dl', { class: 'facts lineage-source' },
      h('dt', {}, 'Event'), h('dd', {}, h('code', {}, e.id)),
      h('dt', {}, 'Contract'), h('dd', {}, `${e.contract} ${e.contractVersion}`),
      h('dt', {}, 'Source'), h('dd', {}, e.source || '—'),
      h('dt', {}, 'Received'), h('dd', {}, when(e.receivedAt)))
      : h('p', { class: 'muted' }, 'A scheduled run: no event started it.'),
    h('h3', {}, 'Where it went'),
    l.hops.length
      ? h('ol', { class: 'lineage-hops' }, l.hops.map((x) => hop(x, inst.id, trace)))
      : empty('It reached no workflow you may see.'));
}

/** The lineage panel for workflow `inst`. */
export function lineagePanel(inst) {
  const input = h('input', { id: 'lineage-ref', name: 'ref', type: 'text', autocomplete: 'off', placeholder: 'e.g. evt-123, or delivery 42' });
  const out = h('div', { class: 'lineage-result', 'aria-live': 'polite' });
  const form = h('form', { class: 'filters lineage-form', role: 'search', 'aria-label': 'Trace an event or a delivery' },
    h('div', { class: 'field inline' }, h('label', { for: input.id }, 'Event id or delivery number'), input),
    h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Trace')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const ref = input.value.trim();
    if (!ref) { replace(out, h('p', { class: 'field-error' }, 'Give an event id or a delivery number.')); return; }
    replace(out, loading('Tracing'));
    try {
      const vars = /^\d+$/.test(ref) ? { d: Number(ref) } : { e: ref };
      show(out, (await gql(LINEAGE, vars)).lineage, inst, trace);
    } catch (e) {
      replace(out, errorBox(e, 'The lineage could not be shown'));
    }
  });
  // Tracing an emitted event follows the chain further down.
  const trace = (id) => { input.value = id; form.requestSubmit(); };
  listRuns(inst.id, 20).then((rs) => {
    const withEvent = rs.find((r) => r.eventId);
    if (withEvent && !input.value) input.value = withEvent.eventId;
  }).catch(() => {});
  return h('section', { 'aria-labelledby': 'lineage-h', class: 'lineage' },
    h('h2', { id: 'lineage-h' }, 'Where did this come from / where did it go'),
    h('p', { class: 'hint' }, 'Follow one event from its source through each step’s decision to every destination, with the fields sent and withheld; or start from a delivery.'),
    form, out);
}
