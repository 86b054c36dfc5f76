// "Move to vX" on a workflow whose template version is deprecated: a dry run of
// `migrateInstance` shows what changes (steps, fields, destinations, flow decisions gained and
// lost), then "Confirm move" applies it. The server checks the policy, the new parameter schema
// and the data flows again, and audits the move.

import { gql } from './api.js';
import { h, replace, loading, errorBox, announce } from './dom.js';

const PREVIEW = 'fromVersion toVersion applied stepsAdded stepsRemoved fieldsAdded fieldsRemoved slotsAdded slotsRemoved flowsGained flowsLost unboundSlots';

/** `migrateInstance` for workflow `id` to `version`; a dry run unless `apply`. */
export async function migrate(id, version, apply) {
  const q = `mutation($i: Int!, $v: String!, $d: Boolean) { migrateInstance(instance: $i, toVersion: $v, dryRun: $d) { ${PREVIEW} } }`;
  return (await gql(q, { i: id, v: version, d: !apply })).migrateInstance;
}

function cmp(a, b) {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i += 1) if ((pa[i] || 0) !== (pb[i] || 0)) return (pa[i] || 0) - (pb[i] || 0);
  return 0;
}

function list(title, items) {
  if (!items || !items.length) return null;
  return h('div', {}, h('h4', {}, title), h('ul', {}, items.map((x) => h('li', {}, h('code', {}, x)))));
}

function preview(p) {
  const parts = [
    list('Steps added', p.stepsAdded), list('Steps removed', p.stepsRemoved),
    list('Fields read added', p.fieldsAdded), list('Fields read removed', p.fieldsRemoved),
    list('Destinations added', p.slotsAdded), list('Destinations removed', p.slotsRemoved),
    list('Data that may now flow', p.flowsGained), list('Data that no longer flows', p.flowsLost),
    list('Destinations with no connection yet', p.unboundSlots),
  ].filter(Boolean);
  return h('div', { class: 'migration-preview', id: 'move-preview' },
    h('p', {}, `Moving from ${p.fromVersion} to ${p.toVersion}. Runs in flight finish on ${p.fromVersion}.`),
    parts.length ? parts : h('p', { class: 'muted' }, 'Nothing else changes.'));
}

/**
 * Adds "Move to vX" under the deprecation banner in `host` when the template has a newer
 * published (or deprecated) version than workflow `inst` runs on.
 */
export async function offerMove(inst, host) {
  let versions;
  try {
    const d = await gql('query($k: String!) { template(key: $k) { versions { version lifecycle } } }', { k: inst.template });
    versions = (d.template && d.template.versions) || [];
  } catch (e) {
    return;
  }
  const newer = versions
    .filter((v) => ['PUBLISHED', 'DEPRECATED'].includes(v.lifecycle) && cmp(v.version, inst.templateVersion) > 0)
    .sort((a, b) => cmp(b.version, a.version));
  if (!newer.length || inst.status === 'retired') return;
  const target = (newer.find((v) => v.lifecycle === 'PUBLISHED') || newer[0]).version;
  const out = h('div', { 'aria-live': 'polite' });
  const move = h('button', { type: 'button', id: 'move-version', class: 'primary' }, `Move to v${target}`);
  move.addEventListener('click', async () => {
    move.disabled = true;
    replace(out, loading('Working out what changes'));
    try {
      const p = await migrate(inst.id, target, false);
      const confirm = h('button', { type: 'button', id: 'move-confirm', class: 'primary' }, 'Confirm move');
      confirm.addEventListener('click', async () => {
        confirm.disabled = true;
        try {
          await migrate(inst.id, target, true);
          announce(`Moved to ${target}.`);
          replace(out, h('p', { class: 'notice ok', role: 'status', id: 'move-done' }, `This workflow now runs on ${inst.template} ${target}. Reload to see it.`));
        } catch (e) {
          confirm.disabled = false;
          replace(out, errorBox(e, 'The move was refused'));
        }
      });
      replace(out, preview(p), confirm);
    } catch (e) {
      replace(out, errorBox(e, 'The move was refused'));
    } finally {
      move.disabled = false;
    }
  });
  host.append(h('div', { class: 'move-offer' }, move, ' ', h('span', { class: 'hint' }, 'See what changes before anything moves.'), out));
}
