// The catalog: templates, connectors and contracts as cards, with search-as-you-type and
// filters (kind, category, owner, lifecycle) kept in the URL so a filtered view can be shared.

import { gql } from '../api.js';
import { h, link, replace, empty, errorBox, loading, lifecycleBadge, announce, debounce } from '../dom.js';
import { setQuery } from '../router.js';

const ITEM = 'key name summary category owner lifecycle latestVersion';
const KINDS = [
  ['templates', 'Workflow templates', 'template', '/templates/'],
  ['connectors', 'Connectors', 'connector', '/connectors/'],
  ['contracts', 'Data contracts', 'contract', '/contracts/'],
];
const LIFECYCLES = ['PUBLISHED', 'DEPRECATED', 'RETIRED', 'DRAFT'];

/** One query per kind (each list stays within the server's complexity limit), run together. */
async function list(kinds, vars) {
  const results = await Promise.all(kinds.map(([field]) => gql(
    `query($s: String, $c: String, $o: String, $l: Lifecycle) {
      ${field}(first: 100, search: $s, category: $c, owner: $o, lifecycle: $l) { edges { node { ${ITEM} } } pageInfo { hasNextPage } } }`,
    vars)));
  return Object.assign({}, ...results);
}

function select(id, label, options, value) {
  const s = h('select', { id, name: id },
    h('option', { value: '' }, 'All'),
    options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)));
  return h('div', { class: 'field inline' }, h('label', { for: id }, label), s);
}

function card(kind, item) {
  const [, , noun, base] = kind;
  const deprecated = ['DEPRECATED', 'RETIRED'].includes(item.lifecycle);
  return h('li', { class: `card${deprecated ? ' is-deprecated' : ''}` },
    h('p', { class: 'kind' }, noun),
    h('h3', {}, link(base + encodeURIComponent(item.key), item.name)),
    h('p', { class: 'summary' }, item.summary),
    h('p', { class: 'meta' },
      h('span', {}, item.category), ' · ', h('span', {}, `owned by ${item.owner}`), ' · ', h('span', {}, `v${item.latestVersion}`),
      item.lifecycle !== 'PUBLISHED' ? [' ', lifecycleBadge(item.lifecycle)] : null));
}

export async function render(main, ctx) {
  const q = ctx.query;
  const state = {
    s: q.get('q') || '',
    kind: q.get('kind') || '',
    category: q.get('category') || '',
    owner: q.get('owner') || '',
    lifecycle: q.get('lifecycle') || '',
  };
  const results = h('div', { id: 'results', 'aria-live': 'polite', 'aria-busy': 'true' }, loading('Loading the catalog'));
  const search = h('input', { type: 'search', id: 'catalog-search', name: 'q', value: state.s, placeholder: 'e.g. lead, hubspot, form', autocomplete: 'off' });
  const filters = h('div', { class: 'filters' }, loading('Loading filters'));
  replace(main,
    h('h1', {}, 'Catalog'),
    h('p', { class: 'lead' }, 'Everything you can use: workflow templates you can turn on, the systems they connect, and the data they carry.'),
    h('form', { class: 'catalog-search', role: 'search', onsubmit: (e) => e.preventDefault() },
      h('div', { class: 'field' }, h('label', { for: 'catalog-search' }, 'Search the catalog'), search),
      filters),
    results);
  ctx.titled('Catalog', ctx.focus);

  let seq = 0;
  const refresh = async () => {
    seq += 1;
    const mine = seq;
    setQuery({ q: state.s, kind: state.kind, category: state.category, owner: state.owner, lifecycle: state.lifecycle });
    results.setAttribute('aria-busy', 'true');
    if (!results.querySelector('.card')) replace(results, loading('Searching'));
    const kinds = KINDS.filter((k) => !state.kind || k[0] === state.kind);
    try {
      const d = await list(kinds, {
        s: state.s || null, c: state.category || null, o: state.owner || null, l: state.lifecycle || null,
      });
      if (mine !== seq) return;
      drawResults(results, kinds, d, state, () => {
        Object.assign(state, { s: '', kind: '', category: '', owner: '', lifecycle: '' });
        search.value = '';
        filters.querySelectorAll('select').forEach((s) => { s.value = ''; });
        refresh();
      });
    } catch (e) {
      if (mine === seq) replace(results, errorBox(e, 'The catalog could not be loaded'));
    } finally {
      if (mine === seq) results.setAttribute('aria-busy', 'false');
    }
  };

  search.addEventListener('input', debounce(() => { state.s = search.value.trim(); refresh(); }, 200));
  await Promise.all([refresh(), drawFilters(filters, state, refresh)]);
}

async function drawFilters(filters, state, refresh) {
  let facets = { categories: [], owners: [] };
  try {
    const d = await list(KINDS, {});
    const all = KINDS.flatMap(([f]) => d[f].edges.map((e) => e.node));
    facets = {
      categories: [...new Set(all.map((i) => i.category))].sort(),
      owners: [...new Set(all.map((i) => i.owner))].sort(),
    };
  } catch (e) {
    // The filters still work as free choices below; the results area shows the error.
  }
  replace(filters,
    select('f-kind', 'Kind', KINDS.map(([v, label]) => [v, label]), state.kind),
    select('f-category', 'Category', facets.categories.map((c) => [c, c]), state.category),
    select('f-owner', 'Owner', facets.owners.map((o) => [o, o]), state.owner),
    select('f-lifecycle', 'Lifecycle', LIFECYCLES.map((l) => [l, l.toLowerCase()]), state.lifecycle));
  const bind = (id, key) => filters.querySelector(`#${id}`).addEventListener('change', (e) => { state[key] = e.target.value; refresh(); });
  bind('f-kind', 'kind');
  bind('f-category', 'category');
  bind('f-owner', 'owner');
  bind('f-lifecycle', 'lifecycle');
}

function drawResults(results, kinds, d, state, clear) {
  const sections = [];
  let total = 0;
  for (const kind of kinds) {
    const items = d[kind[0]].edges.map((e) => e.node);
    total += items.length;
    if (!items.length) continue;
    sections.push(h('section', { 'aria-labelledby': `h-${kind[0]}` },
      h('h2', { id: `h-${kind[0]}` }, `${kind[1]} `, h('span', { class: 'count' }, `(${items.length}${d[kind[0]].pageInfo.hasNextPage ? '+' : ''})`)),
      h('ul', { class: 'cards' }, items.map((i) => card(kind, i)))));
  }
  const filtered = state.s || state.kind || state.category || state.owner || state.lifecycle;
  if (!total) {
    replace(results, empty(
      state.s ? `Nothing in the catalog matches “${state.s}”.` : 'Nothing in the catalog matches these filters.',
      filtered ? h('button', { type: 'button', onclick: clear }, 'Clear search and filters') : null));
    announce('No results');
    return;
  }
  replace(results, sections);
  announce(`${total} result${total === 1 ? '' : 's'}`);
}
