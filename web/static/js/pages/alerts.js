// Alerts: what is going wrong with the workflows the user may see, each as one sentence that
// names the business consequence with its counts ("Lead routing failed for 37 enterprise events
// in the last hour…"). Filter by status (unresolved by default), acknowledge an alert (it stops
// escalating) or snooze it (no notification until then); both are audited and decided by the
// policy for the workflow's team. The list follows `alertsChanged` live.

import { gql } from '../api.js';
import { h, replace, loading, errorBox, empty, statusBadge, when, announce, debounce } from '../dom.js';
import { setQuery } from '../router.js';
import { subscribe, whileShown } from '../live.js';

const ALERT = 'id instance rule severity status level message owner ownerTeam firstSeenAt lastSeenAt resolvedAt acknowledgedBy snoozedUntil';
const LIST = `query($f: AlertFilter) { alerts(filter: $f, first: 200) { ${ALERT} } }`;
const STATUSES = [['', 'Unresolved'], ['open', 'Open'], ['acknowledged', 'Acknowledged'], ['snoozed', 'Snoozed'], ['resolved', 'Resolved']];
const SNOOZE = [[15, '15 minutes'], [60, '1 hour'], [240, '4 hours'], [1440, '1 day'], [10080, '1 week']];
const RULES = {
  freshness: 'Late data', failure_rate: 'Failures', dead_letters: 'Dead letters', latency: 'Slow deliveries',
  drift: 'Contract drift', auth: 'Destination refuses credentials', sunset: 'Version near sunset', silent: 'Trigger gone silent',
};

function alertItem(a, names, reload) {
  const result = h('div', { 'aria-live': 'polite' });
  const act = async (mutation, vars, done) => {
    try {
      await gql(`mutation($id: Int!${vars.minutes ? ', $m: Int!' : ''}) { ${mutation}(id: $id${vars.minutes ? ', minutes: $m' : ''}) { id status } }`,
        { id: a.id, ...(vars.minutes ? { m: vars.minutes } : {}) });
      announce(done);
      reload();
    } catch (e) {
      replace(result, errorBox(e, 'The alert was not changed'));
    }
  };
  const buttons = [];
  if (a.status === 'open' || a.status === 'snoozed') {
    const ack = h('button', { type: 'button', class: 'small primary', 'data-ack': a.id }, 'Acknowledge');
    ack.addEventListener('click', () => { ack.disabled = true; act('acknowledgeAlert', {}, 'Alert acknowledged.'); });
    buttons.push(ack);
  }
  if (a.status !== 'resolved') {
    const pick = h('select', { id: `snooze-${a.id}`, name: 'snooze' }, SNOOZE.map(([m, label]) => h('option', { value: m }, label)));
    const snooze = h('button', { type: 'button', class: 'small secondary', 'data-snooze': a.id }, 'Snooze');
    snooze.addEventListener('click', () => { snooze.disabled = true; act('snoozeAlert', { minutes: Number(pick.value) }, 'Alert snoozed.'); });
    buttons.push(h('span', { class: 'snooze' }, h('label', { for: pick.id, class: 'visually-hidden' }, `Snooze alert ${a.id} for`), pick, ' ', snooze));
  }
  return h('li', { class: `alert-item sev-${a.severity} alert-${a.status}`, 'data-alert': a.id },
    h('p', { class: 'alert-head' },
      h('span', { class: `badge sev-${a.severity}` }, a.severity), ' ', statusBadge(a.status),
      a.level > 0 ? h('span', { class: 'badge escalated' }, `escalated ×${a.level}`) : null, ' ',
      h('span', { class: 'muted' }, RULES[a.rule] || a.rule)),
    h('p', { class: 'alert-message' }, a.message),
    h('p', { class: 'muted' }, 'Workflow ', h('a', { href: `/workflows/${a.instance}`, 'data-link': true }, names.get(a.instance) || `#${a.instance}`),
      ` · owner ${a.owner}${a.ownerTeam ? ` (team ${a.ownerTeam})` : ''} · first seen `, when(a.firstSeenAt), ' · last seen ', when(a.lastSeenAt),
      a.acknowledgedBy ? ` · acknowledged by ${a.acknowledgedBy}` : '',
      a.snoozedUntil && a.status === 'snoozed' ? [' · snoozed until ', when(a.snoozedUntil)] : '',
      a.resolvedAt ? [' · resolved ', when(a.resolvedAt)] : ''),
    buttons.length ? h('div', { class: 'buttons' }, buttons) : null, result);
}

export async function render(main, ctx) {
  const status = ctx.query.get('status') || '';
  const select = h('select', { id: 'alert-status', name: 'status' }, STATUSES.map(([v, label]) => h('option', { value: v, selected: v === status }, label)));
  const list = h('div', { id: 'alert-list', 'aria-live': 'polite' }, loading('Loading alerts'));
  const live = h('p', { class: 'hint live', id: 'alerts-live' });
  replace(main,
    h('h1', {}, 'Alerts'),
    h('p', { class: 'lead' }, 'What is going wrong with the workflows you may see, and what it costs. Alerts resolve by themselves when the condition clears.'),
    h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter alerts' },
      h('div', { class: 'field inline' }, h('label', { for: select.id }, 'Status'), select)),
    live, list);
  ctx.titled('Alerts', ctx.focus);

  let names = new Map();
  const load = async () => {
    try {
      const f = select.value ? { status: select.value } : null;
      const [d, inst] = await Promise.all([gql(LIST, { f }), names.size ? null : gql('{ instances { id name } }').catch(() => null)]);
      if (inst) names = new Map(inst.instances.map((i) => [i.id, i.name]));
      const rows = d.alerts;
      replace(list, rows.length
        ? h('ul', { class: 'alert-list', 'aria-label': `${rows.length} alert${rows.length === 1 ? '' : 's'}` }, rows.map((a) => alertItem(a, names, reload)))
        : empty(select.value ? `No ${select.value} alerts.` : 'No unresolved alerts: every workflow you may see is on time and delivering.'));
      list.dataset.loaded = String(Number(list.dataset.loaded || 0) + 1);
    } catch (e) {
      replace(list, errorBox(e, 'Alerts could not be loaded'));
    }
  };
  const reload = debounce(load, 200);
  select.addEventListener('change', () => { setQuery({ status: select.value }); load(); });
  await load();
  const stop = subscribe('subscription { alertsChanged { id status } }', {},
    (d) => { replace(live, `Live: alert ${d.alertsChanged.id} is now ${d.alertsChanged.status}.`); reload(); },
    (errors) => replace(live, `Live updates refused: ${errors.map((e) => e.message).join('; ')}`));
  whileShown(list, stop);
}
