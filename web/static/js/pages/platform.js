// Platform: publish a deprecation (or retirement) of a catalog version with `setLifecycle`, and
// see beforehand which live workflows are affected and which owners to tell: instances of a
// template version, instances bound to connections of a connector version, or instances of
// templates that read a contract.

import { gql } from '../api.js';
import { h, link, replace, loading, errorBox, empty, lifecycleBadge, statusBadge, table, announce } from '../dom.js';

const KINDS = { TEMPLATE: 'templates', CONNECTOR: 'connectors', CONTRACT: 'contracts' };
const ITEMS = (field) => `{ ${field}(first: 100) { edges { node { key name latestVersion versions { version lifecycle } } } } }`;

export async function render(main, ctx) {
  const kind = h('select', { id: 'dp-kind' }, Object.keys(KINDS).map((k) => h('option', { value: k }, k.charAt(0) + k.slice(1).toLowerCase())));
  const item = h('select', { id: 'dp-item' });
  const version = h('select', { id: 'dp-version' });
  const target = h('select', { id: 'dp-target' }, h('option', { value: 'DEPRECATED' }, 'Deprecated — keeps running, discouraged'), h('option', { value: 'RETIRED' }, 'Retired — no new workflows'));
  const affected = h('div', { 'aria-live': 'polite' });
  const result = h('div', { 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Publish the notice');
  const form = h('form', { class: 'panel', 'aria-labelledby': 'dp-h' },
    h('h2', { id: 'dp-h' }, 'Deprecation notice'),
    h('div', { class: 'filters' },
      h('div', { class: 'field inline' }, h('label', { for: 'dp-kind' }, 'Kind'), kind),
      h('div', { class: 'field inline' }, h('label', { for: 'dp-item' }, 'Item'), item),
      h('div', { class: 'field inline' }, h('label', { for: 'dp-version' }, 'Version'), version),
      h('div', { class: 'field inline' }, h('label', { for: 'dp-target' }, 'New lifecycle'), target)),
    submit, result);
  replace(main,
    h('h1', {}, 'Platform'),
    h('p', { class: 'lead' }, 'Deprecate or retire catalog versions. Lifecycles only move forward: published → deprecated → retired.'),
    form,
    h('section', { 'aria-labelledby': 'aff-h' }, h('h2', { id: 'aff-h' }, 'Who is affected'), affected));
  ctx.titled('Platform', ctx.focus);

  let items = [];
  const loadItems = async () => {
    replace(item, h('option', { value: '' }, 'Loading…'));
    try {
      items = (await gql(ITEMS(KINDS[kind.value])))[KINDS[kind.value]].edges.map((e) => e.node);
    } catch (e) {
      items = [];
      replace(affected, errorBox(e, 'The catalog could not be loaded'));
    }
    replace(item, items.map((i) => h('option', { value: i.key }, i.name)));
    fillVersions();
  };
  const fillVersions = () => {
    const it = items.find((i) => i.key === item.value);
    replace(version, (it ? it.versions : []).map((v) => h('option', { value: v.version }, `${v.version} (${v.lifecycle.toLowerCase()})`)));
    showAffected();
  };
  const showAffected = async () => {
    const it = items.find((i) => i.key === item.value);
    if (!it || !version.value) { replace(affected, empty('Pick an item and a version.')); return; }
    replace(affected, loading('Finding affected workflows'));
    try {
      const rows = await affectedInstances(kind.value, it.key, version.value);
      drawAffected(affected, rows, it, version.value);
    } catch (e) {
      replace(affected, errorBox(e, 'Affected workflows could not be listed'));
    }
  };
  kind.addEventListener('change', loadItems);
  item.addEventListener('change', fillVersions);
  version.addEventListener('change', showAffected);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    replace(result);
    try {
      const d = await gql('mutation($k: Kind!, $key: String!, $v: String!, $l: Lifecycle!) { setLifecycle(kind: $k, key: $key, version: $v, lifecycle: $l) { version lifecycle } }',
        { k: kind.value, key: item.value, v: version.value, l: target.value });
      replace(result, h('p', { class: 'notice ok', role: 'status' }, `${item.value} ${d.setLifecycle.version} is now `, lifecycleBadge(d.setLifecycle.lifecycle), '. The owners listed below are the people to tell.'));
      announce('Lifecycle changed.');
      const keep = [item.value, version.value];
      await loadItems();
      [item.value] = keep;
      fillVersions();
      version.value = keep[1];
      showAffected();
    } catch (err) {
      replace(result, errorBox(err, 'The notice was not published'));
    } finally {
      submit.disabled = false;
    }
  });
  await loadItems();
}

/** Live (not retired) instances that depend on `key` at `version`. */
async function affectedInstances(kind, key, version) {
  const live = (list) => list.filter((i) => i.status !== 'retired');
  const INST = 'id name template templateVersion owner status bindings';
  if (kind === 'TEMPLATE') {
    const d = await gql(`query($t: String) { instances(template: $t) { ${INST} } }`, { t: key });
    return live(d.instances).filter((i) => i.templateVersion === version);
  }
  if (kind === 'CONNECTOR') {
    const d = await gql(`query($c: String) { instances { ${INST} } connections(connector: $c) { id connectorVersion } }`, { c: key });
    const ids = new Set(d.connections.filter((c) => c.connectorVersion === version).map((c) => c.id));
    return live(d.instances).filter((i) => Object.values(i.bindings || {}).some((c) => ids.has(Number(c))));
  }
  const d = await gql(`{ templates(first: 100) { edges { node { key versions { version reads } } } } instances { ${INST} } }`);
  const readers = new Set();
  for (const { node: t } of d.templates.edges) {
    for (const v of t.versions) if ((v.reads || []).some((r) => r.contract === key)) readers.add(`${t.key}@${v.version}`);
  }
  return live(d.instances).filter((i) => readers.has(`${i.template}@${i.templateVersion}`));
}

function drawAffected(box, rows, item, version) {
  if (!rows.length) {
    replace(box, empty(`No live workflow depends on ${item.name} ${version}.`));
    return;
  }
  const owners = [...new Set(rows.map((r) => r.owner))].sort();
  replace(box,
    h('p', {}, `${rows.length} live workflow${rows.length === 1 ? ' depends' : 's depend'} on ${item.name} ${version}. Owners to tell: `, h('strong', {}, owners.join(', ')), '.'),
    table([
      { label: 'Workflow', cell: (r) => link(`/workflows/${r.id}`, r.name) },
      { label: 'Template', cell: (r) => `${r.template} ${r.templateVersion}` },
      { label: 'Owner', cell: (r) => r.owner },
      { label: 'Status', cell: (r) => statusBadge(r.status) },
    ], rows));
}
