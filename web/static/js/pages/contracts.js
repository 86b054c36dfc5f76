// Contracts: every data contract with its version history at a glance, links to the readable
// diff between versions (on the contract's page) and to "check a change" before publishing.

import { gql } from '../api.js';
import { h, link, replace, loading, errorBox, empty, lifecycleBadge, table, when } from '../dom.js';

const CONTRACTS = `{ contracts(first: 100) { edges { node { key name summary owner lifecycle latestVersion updatedAt
  versions { version lifecycle compatibility createdAt } } } } }`;

export async function render(main, ctx) {
  const body = h('div', {}, loading('Loading contracts'));
  replace(main,
    h('h1', {}, 'Data contracts'),
    h('p', { class: 'lead' }, 'What each kind of record and event must look like, which fields are personal data, and how a contract may change without breaking the workflows that read it.'),
    body);
  ctx.titled('Data contracts', ctx.focus);
  let items;
  try {
    items = (await gql(CONTRACTS)).contracts.edges.map((e) => e.node);
  } catch (e) {
    replace(body, errorBox(e, 'Contracts could not be loaded'));
    return;
  }
  if (!items.length) {
    replace(body, empty('No contracts are registered yet.'));
    return;
  }
  replace(body, table([
    { label: 'Contract', cell: (c) => [link(`/contracts/${encodeURIComponent(c.key)}`, c.name), h('div', { class: 'hint' }, c.summary)] },
    { label: 'Versions', cell: (c) => h('ul', { class: 'versions-inline' }, c.versions.map((v) => h('li', {}, `${v.version} `, lifecycleBadge(v.lifecycle)))) },
    { label: 'Compatibility', cell: (c) => (c.versions[0] || {}).compatibility || '—' },
    { label: 'Owner', cell: (c) => c.owner },
    { label: 'Changed', cell: (c) => when(c.updatedAt) },
    { label: 'Change it', cell: (c) => link(`/contracts/${encodeURIComponent(c.key)}/check`, 'Check a change') },
  ], items, `${items.length} contracts`));
}
