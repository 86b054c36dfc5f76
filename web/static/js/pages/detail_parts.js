// The kind-specific sections of a detail page: for a template how it runs and what data it
// moves where; for a connector its settings and the data it may receive; for a contract its
// fields with PII classes and a readable diff between any two versions.

import { gql } from '../api.js';
import { h, link, replace, loading, errorBox, piiBadge, table, empty } from '../dom.js';
import { contractFields, expectedFlows, triggerText } from '../flows.js';
import { diffPicker } from '../diff.js';
import { canInstantiate, dateText, noticeId, replacementNode } from '../deprecation.js';

function section(id, title, ...children) {
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}

function flowDiagram(def) {
  const trigger = def.trigger || {};
  const source = trigger.type === 'event' ? trigger.contract : trigger.type === 'schedule' ? 'schedule' : 'a person';
  const dests = Object.entries(def.slots || {}).map(([slot, s]) => `${slot} (${s.category})`);
  return h('ol', { class: 'flow', 'aria-label': 'Data flow from source to destinations' },
    h('li', { class: 'node source' }, h('span', { class: 'node-kind' }, 'source'), source),
    (def.steps || []).map((s) => h('li', { class: `node step t-${s.type}` }, h('span', { class: 'node-kind' }, s.type), s.id.replace(/_/g, ' '))),
    h('li', { class: 'node dest' }, h('span', { class: 'node-kind' }, 'destinations'), dests.join(', ') || 'none'));
}

function paramList(schema) {
  const props = (schema && schema.properties) || {};
  const required = new Set((schema && schema.required) || []);
  return h('dl', { class: 'params' }, Object.entries(props).map(([name, p]) => [
    h('dt', {}, p.title || name, required.has(name) ? h('span', { class: 'req' }, ' (required)') : null),
    h('dd', {}, p.description || '', p.default !== undefined ? h('span', { class: 'muted' }, ` Default: ${JSON.stringify(p.default)}.`) : null),
  ]));
}

function flowsList(flows) {
  if (!flows.length) return empty('This template sends no data to any destination.');
  return h('ul', { class: 'flows' }, flows.map((f) => h('li', {},
    h('p', {}, h('strong', {}, f.slot), ` → a ${f.category} system`, f.description ? h('span', { class: 'muted' }, ` — ${f.description}`) : null),
    f.fields.length
      ? h('ul', { class: 'field-chips' }, f.fields.map((x) => h('li', {}, h('code', {}, x.name), ' ', piiBadge(x.pii))))
      : h('p', { class: 'muted' }, 'No event fields.'))));
}

/**
 * "Use this template" for the current version — or, when it is retired or past its sunset, why
 * new workflows cannot be created from it (and what to use instead).
 */
function useAction(item, def) {
  const notices = item.notices || [];
  if (canInstantiate(def, notices)) {
    return h('p', { class: 'actions' },
      h('a', { class: 'button primary', href: `/templates/${encodeURIComponent(item.key)}/instantiate`, 'data-link': true }, 'Use this template'));
  }
  const notice = notices.find((n) => n.version === def.version);
  if (def.lifecycle !== 'RETIRED' && notice) {
    return h('p', { class: 'notice blocked', id: 'use-blocked' },
      h('strong', {}, `New workflows can no longer be created from version ${def.version}`),
      ` — its sunset was on ${dateText(notice.sunsetAt)} (`, h('a', { href: `#${noticeId(notice)}` }, 'see the notice'), '). Use instead: ',
      replacementNode(notice));
  }
  return h('p', { class: 'notice blocked', id: 'use-blocked' }, h('strong', {}, `Version ${def.version || ''} is ${String(def.lifecycle || 'not usable').toLowerCase()}`), ': it can no longer be turned on.');
}

export function templateSections(item, current) {
  const def = current || {};
  const def2 = { steps: def.steps || [], slots: def.slots || {}, reads: def.reads || [], trigger: def.trigger };
  const dataBox = h('div', {}, loading('Working out which data flows where'));
  contractFields(def2).then(({ pii, fields }) => {
    const read = new Set((def2.reads || []).flatMap((r) => r.fields || []));
    const used = fields.filter((f) => read.has(f.name));
    replace(dataBox,
      h('h3', {}, 'Where it goes'),
      flowsList(expectedFlows(def2, pii)),
      h('h3', {}, 'Fields it reads'),
      used.length ? table([
        { label: 'Field', cell: (f) => h('code', {}, f.name) },
        { label: 'From', cell: (f) => link(`/contracts/${encodeURIComponent(f.contract)}`, f.contract) },
        { label: 'PII', cell: (f) => piiBadge(f.pii) },
        { label: 'Meaning', cell: (f) => f.description },
      ], used) : h('p', { class: 'muted' }, 'It reads no contract fields.'));
  }).catch((e) => replace(dataBox, errorBox(e)));
  return [
    useAction(item, def),
    def.sensitive ? h('p', { class: 'notice' }, 'Sensitive: a new workflow from this template waits until a second person approves it.') : null,
    section('how-h', 'How it runs', h('p', {}, triggerText(def.trigger)), flowDiagram(def2),
      h('ol', { class: 'steps' }, (def.steps || []).map((s) => h('li', {}, h('strong', {}, s.id.replace(/_/g, ' ')), ` (${s.type}): `, s.description || '')))),
    section('data-h', 'The data it moves', dataBox),
    section('params-h', 'Settings you choose', paramList(def.parameters)),
  ];
}

export function connectorSections(item, current) {
  const v = current || {};
  const schema = v.settingsSchema || {};
  const required = new Set(schema.required || []);
  const conns = h('div', {}, loading('Loading your connections'));
  gql('query($c: String) { connections(connector: $c) { id name owner createdAt } }', { c: item.key })
    .then((d) => replace(conns, d.connections.length
      ? h('ul', {}, d.connections.map((c) => h('li', {}, `${c.name} `, h('span', { class: 'muted' }, `(#${c.id}, owned by ${c.owner})`))))
      : h('p', { class: 'muted' }, 'No connections you may use yet. One is created when you set up a workflow that needs it.')))
    .catch((e) => replace(conns, errorBox(e)));
  return [
    section('conn-h', 'What it connects',
      h('dl', { class: 'facts wide' },
        h('dt', {}, 'Direction'), h('dd', {}, v.direction || '—'),
        h('dt', {}, 'Objects it carries'), h('dd', {}, (v.objects || []).join(', ') || '—'),
        h('dt', {}, 'Actions'), h('dd', {}, (v.actions || []).join(', ') || '—'),
        h('dt', {}, 'Data it may receive'), h('dd', {}, (v.dataClasses || []).length ? (v.dataClasses || []).map((c) => [piiBadge(c), ' ']) : 'no personal data'))),
    section('settings-h', 'Connection settings', table([
      { label: 'Setting', cell: ([n]) => [h('code', {}, n), required.has(n) ? h('span', { class: 'req' }, ' required') : null] },
      { label: 'Meaning', cell: ([, p]) => p.description || '' },
      { label: 'Stored', cell: ([, p]) => (p['x-secret'] ? h('span', { class: 'badge secret' }, 'secret, encrypted') : 'plain') },
    ], Object.entries(schema.properties || {}))),
    section('myconn-h', 'Connections', conns),
  ];
}

export function contractSections(item, current, versions) {
  const v = current || {};
  return [
    h('p', { class: 'actions' }, h('a', { class: 'button', href: `/contracts/${encodeURIComponent(item.key)}/check`, 'data-link': true }, 'Check a change to this contract')),
    section('rules-h', 'Rules',
      h('dl', { class: 'facts wide' },
        h('dt', {}, 'Compatibility'), h('dd', {}, v.compatibility || '—'),
        h('dt', {}, 'Freshness'), h('dd', {}, v.freshnessSlaMinutes ? `new data at least every ${v.freshnessSlaMinutes} minutes` : '—'),
        h('dt', {}, 'Bad events'), h('dd', {}, v.enforcement === 'block' ? 'rejected' : v.enforcement === 'flag' ? 'accepted and flagged' : '—'),
        h('dt', {}, 'Identified by'), h('dd', {}, (v.keyFields || []).join(', ') || '—'))),
    section('fields-h', 'Fields', table([
      { label: 'Field', cell: (f) => h('code', {}, f.name) },
      { label: 'Type', cell: (f) => f.type },
      { label: 'Required', cell: (f) => (f.required ? 'yes' : 'no') },
      { label: 'PII', cell: (f) => piiBadge(f.pii) },
      { label: 'Meaning', cell: (f) => f.description },
    ], v.fields || [], `Fields of version ${v.version || ''}`)),
    section('diff-h', 'Compare versions', versions.length > 1
      ? diffPicker(versions)
      : h('p', { class: 'muted' }, 'Only one version is registered, so there is nothing to compare yet.')),
  ];
}
