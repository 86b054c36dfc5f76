// Live updates of a workflow page: subscribes to `runUpdated` and `deliveryUpdated` for the
// workflow (over /graphql/ws, `live.js`), redraws its health and timeline as runs start and
// finish and deliveries are attempted — keeping open the delivery lists the user had opened —
// and says so in a small status line that screen readers hear politely.

import { h, replace } from './dom.js';
import { subscribe, onStatus, whileShown } from './live.js';

const RUNS = 'subscription($i: Int!) { runUpdated(instance: $i) { id status eventId } }';
const DELIVERIES = 'subscription($i: Int!) { deliveryUpdated(instance: $i) { id run status slot connector attempts } }';

const STATUS_TEXT = {
  connecting: 'Connecting for live updates…',
  live: 'Live: runs and deliveries appear as they happen.',
  reconnecting: 'Live updates interrupted; reconnecting…',
  refused: 'Live updates are not available; reload the page to see changes.',
  off: '',
};

/**
 * Starts live updates for workflow `inst`; `redraw()` draws its runs again. Returns the status
 * element to put on the page (its leaving the page ends the subscriptions).
 */
export function liveUpdates(inst, redraw) {
  const state = h('span', { class: 'live-state', 'data-live': 'connecting' }, STATUS_TEXT.connecting);
  const last = h('span', { class: 'muted live-last' });
  const box = h('p', { class: 'live', id: 'live-updates', 'aria-live': 'polite' }, h('span', { class: 'live-dot', 'aria-hidden': 'true' }), ' ', state, ' ', last);
  let timer = null;
  const changed = (text) => {
    replace(last, `Last change ${new Date().toLocaleTimeString()}: ${text}`);
    box.dataset.updates = String(Number(box.dataset.updates || 0) + 1);
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const open = [...document.querySelectorAll('.timeline button[aria-expanded="true"]')].map((b) => b.getAttribute('aria-controls'));
      await redraw();
      for (const id of open) {
        const b = document.querySelector(`.timeline button[aria-controls="${id}"]`);
        if (b && b.getAttribute('aria-expanded') === 'false') b.click();
      }
    }, 300);
  };
  const failed = (errors) => {
    state.dataset.live = 'refused';
    replace(state, `Live updates refused: ${errors.map((e) => e.message).join('; ')}`);
  };
  const stopStatus = onStatus((s) => {
    state.dataset.live = s;
    replace(state, STATUS_TEXT[s] || s);
  });
  const stopRuns = subscribe(RUNS, { i: inst.id },
    (d) => changed(`run #${d.runUpdated.id} ${String(d.runUpdated.status).replace(/_/g, ' ')}`), failed);
  const stopDeliveries = subscribe(DELIVERIES, { i: inst.id },
    (d) => changed(`delivery to ${d.deliveryUpdated.slot} (${d.deliveryUpdated.connector}) ${d.deliveryUpdated.status}`), failed);
  whileShown(box, () => {
    clearTimeout(timer);
    stopRuns();
    stopDeliveries();
    stopStatus();
  });
  return box;
}
