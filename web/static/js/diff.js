// A readable diff between two versions of a contract's JSON Schema: fields added and removed,
// type, requiredness, allowed values, PII class and other rules changed — in sentences, field by
// field. For the authoritative compatibility verdict use "Check a change" (the server's check).

import { h, replace, table, piiBadge } from './dom.js';

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const show = (v) => (v === undefined ? 'none' : typeof v === 'string' ? v : JSON.stringify(v));

function typeOf(p) {
  if (!p) return 'any';
  if (Array.isArray(p.type)) return p.type.join(' or ');
  return p.type || (p.enum ? 'enum' : 'any');
}

/** Changes between the `properties` of two object schemas, recursing into nested objects. */
export function schemaChanges(before, after, prefix = '') {
  const out = [];
  const a = (before && before.properties) || {};
  const b = (after && after.properties) || {};
  const reqA = new Set((before && before.required) || []);
  const reqB = new Set((after && after.required) || []);
  const names = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  for (const name of names) {
    const path = prefix + name;
    const pa = a[name];
    const pb = b[name];
    if (!pa) {
      out.push({ field: path, change: `added (${typeOf(pb)}${reqB.has(name) ? ', required' : ', optional'})`, risk: reqB.has(name), pii: pb['x-pii'] });
      continue;
    }
    if (!pb) {
      out.push({ field: path, change: 'removed', risk: true });
      continue;
    }
    if (typeOf(pa) !== typeOf(pb)) out.push({ field: path, change: `type changed from ${typeOf(pa)} to ${typeOf(pb)}`, risk: true });
    if (reqA.has(name) !== reqB.has(name)) {
      out.push({ field: path, change: reqB.has(name) ? 'now required' : 'no longer required', risk: true });
    }
    if (!same(pa.enum, pb.enum)) {
      const ea = new Set(pa.enum || []);
      const eb = new Set(pb.enum || []);
      const added = [...eb].filter((x) => !ea.has(x));
      const removed = [...ea].filter((x) => !eb.has(x));
      const parts = [];
      if (added.length) parts.push(`allows ${added.map(show).join(', ')}`);
      if (removed.length) parts.push(`no longer allows ${removed.map(show).join(', ')}`);
      if (!pa.enum) parts.push('now limited to a list of values');
      if (!pb.enum) parts.push('no longer limited to a list of values');
      out.push({ field: path, change: `allowed values: ${parts.join('; ')}`, risk: true });
    }
    if (pa['x-pii'] !== pb['x-pii']) {
      out.push({ field: path, change: `PII class changed from ${pa['x-pii'] || 'none'} to ${pb['x-pii'] || 'none'}`, risk: false, pii: pb['x-pii'] });
    }
    for (const rule of ['format', 'pattern', 'minimum', 'maximum', 'minLength', 'maxLength', 'minItems', 'maxItems']) {
      if (!same(pa[rule], pb[rule])) out.push({ field: path, change: `${rule} changed from ${show(pa[rule])} to ${show(pb[rule])}`, risk: true });
    }
    if ((pa.description || '') !== (pb.description || '')) out.push({ field: path, change: 'description reworded', risk: false });
    if (pa.properties || pb.properties) out.push(...schemaChanges(pa, pb, `${path}.`));
    if ((pa.items && pa.items.properties) || (pb.items && pb.items.properties)) out.push(...schemaChanges(pa.items, pb.items, `${path}[].`));
  }
  if (!prefix && !same(before && before.additionalProperties, after && after.additionalProperties)) {
    out.push({ field: '(whole event)', change: `extra fields ${after && after.additionalProperties === false ? 'now refused' : 'now allowed'}`, risk: true });
  }
  return out;
}

/** Two version pickers and the diff between the chosen versions (older first by default). */
export function diffPicker(versions) {
  const older = versions[1] || versions[0];
  const newer = versions[0];
  const pick = (id, label, chosen) => {
    const s = h('select', { id, name: id }, versions.map((v) => h('option', { value: v.version, selected: v.version === chosen.version }, `${v.version} (${v.lifecycle.toLowerCase()})`)));
    return [h('div', { class: 'field inline' }, h('label', { for: id }, label), s), s];
  };
  const [fromWrap, from] = pick('diff-from', 'From version', older);
  const [toWrap, to] = pick('diff-to', 'To version', newer);
  const out = h('div', { 'aria-live': 'polite' });
  const draw = () => {
    const a = versions.find((v) => v.version === from.value);
    const b = versions.find((v) => v.version === to.value);
    if (!a || !b || a === b) {
      replace(out, h('p', { class: 'muted' }, 'Pick two different versions.'));
      return;
    }
    const changes = schemaChanges(a.schema, b.schema);
    const meta = [];
    if (a.compatibility !== b.compatibility) meta.push(`Compatibility mode changed from ${a.compatibility} to ${b.compatibility}.`);
    if (a.freshnessSlaMinutes !== b.freshnessSlaMinutes) meta.push(`Freshness changed from ${a.freshnessSlaMinutes} to ${b.freshnessSlaMinutes} minutes.`);
    replace(out,
      h('p', {}, `From ${a.version} to ${b.version}: ${changes.length} change${changes.length === 1 ? '' : 's'} to the fields.`),
      meta.map((m) => h('p', {}, m)),
      changes.length ? table([
        { label: 'Field', cell: (c) => h('code', {}, c.field) },
        { label: 'Change', cell: (c) => [c.change, c.pii ? [' ', piiBadge(c.pii)] : null] },
        { label: 'Readers', cell: (c) => (c.risk ? h('span', { class: 'badge warn' }, 'may affect readers') : h('span', { class: 'muted' }, 'safe')) },
      ], changes) : h('p', { class: 'muted' }, 'The schemas are identical.'));
  };
  from.addEventListener('change', draw);
  to.addEventListener('change', draw);
  draw();
  return h('div', { class: 'diff' }, h('div', { class: 'filters' }, fromWrap, toWrap), out);
}
