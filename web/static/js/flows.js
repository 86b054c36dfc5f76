// What data a template moves where, worked out from its definition the way the server does when
// it decides flows at instantiation (`api/src/instances/flows.rs`): a `notify` step sends what it
// reads; a `deliver` step sends what the map step before it produces. This is a preview for
// people; the server's decision, stored with the instance, is the one that counts.

import { gql } from './api.js';

function sentFields(steps, i) {
  const step = steps[i];
  const out = (step.reads || []).map((f) => [f, false]);
  if (step.type === 'notify') return out;
  const map = steps.slice(0, i).reverse().find((s) => s.type === 'map');
  if (map) {
    const cfg = map.config || {};
    for (const f of Object.values(cfg.fields || {})) if (typeof f === 'string') out.push([f, false]);
    for (const expr of Object.values(cfg.computed || {})) {
      if (typeof expr !== 'string') continue;
      const hashed = expr.includes('sha256(');
      for (const f of map.reads || []) if (expr.includes(`event.${f}`)) out.push([f, hashed]);
    }
  } else {
    for (const s of steps.slice(0, i)) for (const f of s.reads || []) out.push([f, false]);
  }
  return out;
}

/**
 * Per slot: its category, the steps sending to it, and each field with its PII class as sent.
 * `pii` maps field → class from the contracts the template reads.
 */
export function expectedFlows(def, pii) {
  const steps = def.steps || [];
  const slots = def.slots || {};
  const bySlot = new Map();
  steps.forEach((step, i) => {
    if (!['deliver', 'notify'].includes(step.type)) return;
    const slot = step.config && step.config.slot;
    if (!slot) return;
    const entry = bySlot.get(slot) || {
      slot, category: (slots[slot] || {}).category || '?', description: (slots[slot] || {}).description || '', steps: [], fields: new Map(),
    };
    entry.steps.push(step.id);
    for (const [f, hashed] of sentFields(steps, i)) {
      const cls = hashed ? 'hashed' : (pii[f] || 'none');
      if (!entry.fields.has(f) || entry.fields.get(f) === 'hashed') entry.fields.set(f, cls);
    }
    bySlot.set(slot, entry);
  });
  for (const [slot, s] of Object.entries(slots)) {
    if (!bySlot.has(slot)) bySlot.set(slot, { slot, category: s.category, description: s.description || '', steps: [], fields: new Map() });
  }
  return [...bySlot.values()].map((e) => ({ ...e, fields: [...e.fields.entries()].map(([name, pii]) => ({ name, pii })) }));
}

/** Field → PII class (and descriptions) of the current versions of the contracts `def` reads. */
export async function contractFields(def) {
  const names = [...new Set([
    ...(def.reads || []).map((r) => r.contract),
    def.trigger && def.trigger.contract,
  ].filter(Boolean))];
  const pii = {};
  const fields = [];
  for (const name of names) {
    try {
      const d = await gql(`query($n: String!) { contract(name: $n) { latestVersion versions { version fields { name type required pii description } } } }`, { n: name });
      const c = d.contract;
      if (!c) continue;
      const v = c.versions.find((x) => x.version === c.latestVersion) || c.versions[0];
      for (const f of (v ? v.fields : [])) {
        pii[f.name] = f.pii;
        fields.push({ ...f, contract: name });
      }
    } catch (e) {
      // Unreadable contract: its fields show without a PII class.
    }
  }
  return { pii, fields };
}

/** "when someone submits a form (event.form_submitted)" style trigger text. */
/** Common six-field cron expressions (`sec min hour day month weekday`) in words, or null. */
export function cronText(cron) {
  const f = String(cron || '').trim().split(/\s+/);
  if (f.length !== 6 || f[0] !== '0' || f.slice(3).some((x) => x !== '*')) return null;
  const [, min, hour] = f;
  const step = (x) => (/^\*\/(\d+)$/.exec(x) || [])[1];
  if (step(min) && hour === '*') return `every ${step(min)} minutes`;
  if (min === '*' && hour === '*') return 'every minute';
  if (/^\d+$/.test(min) && hour === '*') return `every hour at minute ${min}`;
  if (/^\d+$/.test(min) && step(hour)) return `every ${step(hour)} hours`;
  if (/^\d+$/.test(min) && /^\d+$/.test(hour)) return `every day at ${hour.padStart(2, '0')}:${min.padStart(2, '0')} (server time)`;
  return null;
}

export function triggerText(trigger) {
  if (!trigger) return 'Started by hand';
  if (trigger.type === 'event') return `Runs for every ${trigger.contract} event (versions ${trigger.versions || 'any'})`;
  if (trigger.type === 'schedule') {
    const every = cronText(trigger.cron);
    return every ? `Runs on a schedule: ${every} (cron ${trigger.cron})` : `Runs on a schedule (${trigger.cron})`;
  }
  if (trigger.type === 'manual') return 'Started by a person';
  return `Trigger: ${trigger.type}`;
}
