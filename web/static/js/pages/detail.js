// Detail page of one connector, template or contract: what it does in plain words, its
// versions and their lifecycle, a deprecation banner, the signed-in user's access (and who to
// ask), then the kind's own sections (`detail_parts.js`).

import { gql } from '../api.js';
import { h, link, replace, loading, errorBox, lifecycleBadge, table, when } from '../dom.js';
import { accessPanel } from '../access.js';
import { connectorSections, contractSections, templateSections } from './detail_parts.js';

const ITEM = 'key name summary description category owner lifecycle latestVersion updatedAt';
const KINDS = {
  template: {
    noun: 'Workflow template',
    query: `query($k: String!) { item: template(key: $k) { ${ITEM}
      versions { version lifecycle createdAt createdBy sensitive parameters trigger slots reads steps } } }`,
    actions: ['read', 'instantiate'],
    sections: templateSections,
  },
  connector: {
    noun: 'Connector',
    query: `query($k: String!) { item: connector(key: $k) { ${ITEM}
      versions { version lifecycle createdAt createdBy direction settingsSchema objects actions dataClasses } } }`,
    actions: ['read', 'connect'],
    sections: connectorSections,
  },
  contract: {
    noun: 'Data contract',
    query: `query($k: String!) { item: contract(name: $k) { ${ITEM}
      versions { version lifecycle createdAt createdBy compatibility freshnessSlaMinutes enforcement keyFields schema
        fields { name type required pii description } } } }`,
    actions: ['read', 'publish'],
    sections: contractSections,
  },
};

/** The deprecation banner: which version to use instead, if a newer published one exists. */
function deprecationBanner(item, versions) {
  const current = versions.find((v) => v.version === item.latestVersion);
  const lc = current ? current.lifecycle : item.lifecycle;
  if (!['DEPRECATED', 'RETIRED'].includes(lc)) return null;
  const replacement = versions.find((v) => v.lifecycle === 'PUBLISHED');
  return h('div', { class: 'banner deprecated', role: 'note' },
    h('strong', {}, lc === 'RETIRED' ? `Version ${item.latestVersion} is retired.` : `Version ${item.latestVersion} is deprecated.`), ' ',
    lc === 'RETIRED'
      ? 'It can no longer be used for new workflows.'
      : 'Existing workflows keep running, but plan to move off it; new workflows should not use it.', ' ',
    replacement ? `Use version ${replacement.version} instead.` : 'No replacement version is published yet; ask the owner team, ',
    replacement ? null : h('strong', {}, item.owner), replacement ? null : '.');
}

function versionsTable(versions, current) {
  return table([
    { label: 'Version', cell: (v) => [v.version, v.version === current ? h('span', { class: 'muted' }, ' (current)') : null] },
    { label: 'Lifecycle', cell: (v) => lifecycleBadge(v.lifecycle) },
    { label: 'Published by', cell: (v) => v.createdBy },
    { label: 'When', cell: (v) => when(v.createdAt) },
  ], versions, 'Versions, newest first');
}

export async function render(main, ctx) {
  const spec = KINDS[ctx.kind];
  const key = ctx.params.key;
  replace(main, h('h1', {}, key), loading(`Loading the ${spec.noun.toLowerCase()}`));
  let item;
  try {
    item = (await gql(spec.query, { k: key })).item;
  } catch (e) {
    replace(main, h('h1', {}, key), errorBox(e, `The ${spec.noun.toLowerCase()} could not be loaded`));
    ctx.titled(key, ctx.focus);
    return;
  }
  if (!item) {
    replace(main, h('h1', {}, 'Not in the catalog'),
      h('p', {}, `There is no ${spec.noun.toLowerCase()} called “${key}”. `, link('/catalog', 'Back to the catalog'), '.'));
    ctx.titled('Not found', ctx.focus);
    return;
  }
  const versions = item.versions || [];
  const current = versions.find((v) => v.version === item.latestVersion) || versions[0] || {};
  const object = `catalog:${ctx.kind}:${item.key}`;
  replace(main,
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, link('/catalog', 'Catalog'), ' › ', spec.noun),
    h('h1', {}, item.name, ' ', lifecycleBadge(current.lifecycle || item.lifecycle)),
    h('p', { class: 'lead' }, item.summary),
    deprecationBanner(item, versions),
    h('div', { class: 'detail-grid' },
      h('div', { class: 'detail-main' },
        h('section', { 'aria-labelledby': 'what-h' },
          h('h2', { id: 'what-h' }, 'What it does'),
          item.description.split(/\n\s*\n/).map((p) => h('p', {}, p.trim()))),
        spec.sections(item, current, versions, ctx)),
      h('aside', { class: 'detail-side' },
        h('dl', { class: 'facts' },
          h('dt', {}, 'Kind'), h('dd', {}, spec.noun),
          h('dt', {}, 'Key'), h('dd', {}, h('code', {}, item.key)),
          h('dt', {}, 'Category'), h('dd', {}, item.category),
          h('dt', {}, 'Owner team'), h('dd', {}, item.owner),
          h('dt', {}, 'Current version'), h('dd', {}, item.latestVersion),
          h('dt', {}, 'Updated'), h('dd', {}, when(item.updatedAt))),
        accessPanel(object, spec.actions))),
    h('section', { 'aria-labelledby': 'versions-h' }, h('h2', { id: 'versions-h' }, 'Versions'), versionsTable(versions, item.latestVersion)));
  ctx.titled(`${item.name} (${spec.noun.toLowerCase()})`, ctx.focus);
}
