// Detail page of one connector, template or contract: what it does in plain words, its
// versions and their lifecycle, a banner for each version with a deprecation notice (sunset
// date, replacement, migration notes), the signed-in user's access (and who to ask), then the
// kind's own sections (`detail_parts.js`).

import { gql } from '../api.js';
import { h, link, replace, loading, errorBox, lifecycleBadge, table, when } from '../dom.js';
import { accessPanel } from '../access.js';
import { NOTICE, noticeBanner, sunsetPassed, dateText, canInstantiate, noticeId } from '../deprecation.js';
import { connectorSections, contractSections, templateSections } from './detail_parts.js';

const ITEM = 'key name summary description category owner lifecycle latestVersion updatedAt';
const KINDS = {
  template: {
    noun: 'Workflow template',
    query: `query($k: String!) { item: template(key: $k) { ${ITEM}
      versions { version lifecycle createdAt createdBy sensitive parameters trigger slots reads steps } }
      notices: deprecationNotices(kind: TEMPLATE, key: $k) { ${NOTICE} } }`,
    actions: ['read', 'instantiate'],
    sections: templateSections,
  },
  connector: {
    noun: 'Connector',
    query: `query($k: String!) { item: connector(key: $k) { ${ITEM}
      versions { version lifecycle createdAt createdBy direction settingsSchema objects actions dataClasses } }
      notices: deprecationNotices(kind: CONNECTOR, key: $k) { ${NOTICE} } }`,
    actions: ['read', 'connect'],
    sections: connectorSections,
  },
  contract: {
    noun: 'Data contract',
    query: `query($k: String!) { item: contract(name: $k) { ${ITEM}
      versions { version lifecycle createdAt createdBy compatibility freshnessSlaMinutes enforcement keyFields schema
        fields { name type required pii description } } }
      notices: deprecationNotices(kind: CONTRACT, key: $k) { ${NOTICE} } }`,
    actions: ['read', 'publish'],
    sections: contractSections,
  },
};

/**
 * A banner per version with a deprecation notice (newest version first); when the current
 * version is deprecated or retired without one, a plain banner saying so.
 */
function deprecationBanners(item, versions, notices) {
  const lifecycleOf = (v) => (versions.find((x) => x.version === v) || {}).lifecycle;
  const order = (v) => versions.findIndex((x) => x.version === v);
  const shown = notices
    .filter((n) => lifecycleOf(n.version) !== 'DRAFT')
    .sort((a, b) => order(a.version) - order(b.version))
    .map((n) => noticeBanner(n, { lifecycle: lifecycleOf(n.version) }));
  if (shown.length) return shown;
  const lc = lifecycleOf(item.latestVersion) || item.lifecycle;
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

function versionsTable(kind, item, versions, notices) {
  const noticeOf = (v) => notices.find((n) => n.version === v.version);
  const columns = [
    { label: 'Version', cell: (v) => [v.version, v.version === item.latestVersion ? h('span', { class: 'muted' }, ' (current)') : null] },
    { label: 'Lifecycle', cell: (v) => lifecycleBadge(v.lifecycle) },
    {
      label: 'Sunset',
      cell: (v) => {
        const n = noticeOf(v);
        if (!n) return h('span', { class: 'muted' }, '—');
        return [h('a', { href: `#${noticeId(n)}` }, dateText(n.sunsetAt)), sunsetPassed(n) ? h('span', { class: 'muted' }, ' (passed)') : null];
      },
    },
    { label: 'Published by', cell: (v) => v.createdBy },
    { label: 'When', cell: (v) => when(v.createdAt) },
  ];
  if (kind === 'template') {
    columns.push({
      label: 'New workflow',
      cell: (v) => {
        if (canInstantiate(v, notices)) {
          return link(`/templates/${encodeURIComponent(item.key)}/instantiate?version=${encodeURIComponent(v.version)}`, `Set up with ${v.version}`);
        }
        const why = v.lifecycle === 'RETIRED' ? 'retired' : v.lifecycle === 'DRAFT' ? 'draft' : 'sunset passed';
        return h('span', { class: 'muted' }, `not possible (${why})`);
      },
    });
  }
  return table(columns, versions, 'Versions, newest first');
}

export async function render(main, ctx) {
  const spec = KINDS[ctx.kind];
  const key = ctx.params.key;
  replace(main, h('h1', {}, key), loading(`Loading the ${spec.noun.toLowerCase()}`));
  let item;
  let notices = [];
  try {
    const d = await gql(spec.query, { k: key });
    item = d.item;
    notices = d.notices || [];
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
  item.notices = notices;
  replace(main,
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, link('/catalog', 'Catalog'), ' › ', spec.noun),
    h('h1', {}, item.name, ' ', lifecycleBadge(current.lifecycle || item.lifecycle)),
    h('p', { class: 'lead' }, item.summary),
    deprecationBanners(item, versions, notices),
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
    h('section', { 'aria-labelledby': 'versions-h' }, h('h2', { id: 'versions-h' }, 'Versions'), versionsTable(ctx.kind, item, versions, notices)));
  ctx.titled(`${item.name} (${spec.noun.toLowerCase()})`, ctx.focus);
}
