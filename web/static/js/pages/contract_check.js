// "Check a change": paste a proposed JSON Schema for a contract and see, before publishing,
// what changed, whether the contract's compatibility mode allows it, and which templates and
// live workflows it would break (`checkContractCompatibility`, the same check as
// `switchyard contract check` and the publish guard).

import { gql } from '../api.js';
import { h, link, replace, loading, errorBox, table, empty } from '../dom.js';

const CONTRACT = `query($k: String!) { contract(name: $k) { key name summary description category owner latestVersion
  versions { version lifecycle definition } } }`;
const CHECK = `query($i: PublishInput!) { checkContractCompatibility(input: $i) {
  contract proposedVersion mode againstVersion compatible
  changes { kind pointer message compatible }
  breaking { againstVersion direction kind pointer message }
  consumers { kind key version fields steps { id fields } broken brokenBy } } }`;

function bump(version) {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version || '');
  return m ? `${m[1]}.${Number(m[2]) + 1}.0` : '1.0.0';
}

export async function render(main, ctx) {
  const key = ctx.params.key;
  replace(main, h('h1', {}, 'Check a change'), loading('Loading the contract'));
  let c;
  try {
    c = (await gql(CONTRACT, { k: key })).contract;
  } catch (e) {
    replace(main, h('h1', {}, 'Check a change'), errorBox(e, 'The contract could not be loaded'));
    ctx.titled('Check a change', ctx.focus);
    return;
  }
  if (!c) {
    replace(main, h('h1', {}, 'Not in the catalog'), h('p', {}, `There is no contract “${key}”. `, link('/contracts', 'All contracts')));
    ctx.titled('Not found', ctx.focus);
    return;
  }
  const current = c.versions.find((v) => v.version === c.latestVersion) || c.versions[0];
  const def = current.definition || {};
  const version = h('input', { id: 'cc-version', type: 'text', value: bump(c.latestVersion), 'aria-describedby': 'cc-version-err', autocomplete: 'off' });
  const versionErr = h('p', { class: 'field-error', id: 'cc-version-err', hidden: true });
  const schema = h('textarea', { id: 'cc-schema', class: 'code', rows: 18, spellcheck: 'false', 'aria-describedby': 'cc-schema-hint cc-schema-err' }, JSON.stringify(def.schema || {}, null, 2));
  const schemaErr = h('p', { class: 'field-error', id: 'cc-schema-err', hidden: true });
  const result = h('div', { 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Check');
  const form = h('form', { novalidate: true, class: 'panel' },
    h('div', { class: 'field' }, h('label', { for: 'cc-version' }, 'Proposed version'), version, versionErr),
    h('div', { class: 'field' }, h('label', { for: 'cc-schema' }, 'Proposed JSON Schema'),
      h('p', { class: 'hint', id: 'cc-schema-hint' }, `Starts as version ${current.version}. Edit it or paste yours (JSON). Nothing is published.`),
      schema, schemaErr),
    submit);
  const setErr = (el, input, msg) => {
    el.hidden = !msg;
    el.textContent = msg || '';
    if (msg) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    setErr(versionErr, version, null);
    setErr(schemaErr, schema, null);
    let parsed;
    try {
      parsed = JSON.parse(schema.value);
    } catch (err) {
      setErr(schemaErr, schema, `This is not valid JSON: ${err.message}`);
      schema.focus();
      return;
    }
    submit.disabled = true;
    replace(result, loading('Checking'));
    try {
      const input = {
        key: c.key, name: c.name, summary: c.summary, description: c.description, category: c.category, owner: c.owner,
        version: version.value.trim(), definition: { ...def, schema: parsed },
      };
      replace(result, report((await gql(CHECK, { i: input })).checkContractCompatibility));
      result.querySelector('h2').focus();
    } catch (err) {
      const by = err.byField ? err.byField() : {};
      const versionMsgs = Object.entries(by).filter(([k]) => k.endsWith('version')).flatMap(([, m]) => m);
      const schemaMsgs = Object.entries(by).filter(([k]) => k.includes('schema')).flatMap(([, m]) => m);
      if (versionMsgs.length) setErr(versionErr, version, versionMsgs.join(' '));
      if (schemaMsgs.length) setErr(schemaErr, schema, schemaMsgs.join(' '));
      replace(result, versionMsgs.length || schemaMsgs.length ? null : errorBox(err, 'The check could not run'));
      (versionMsgs.length ? version : schema).focus();
    } finally {
      submit.disabled = false;
    }
  });
  replace(main,
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, link('/contracts', 'Contracts'), ' › ', link(`/contracts/${encodeURIComponent(c.key)}`, c.name), ' › Check a change'),
    h('h1', {}, `Check a change to ${c.name}`),
    h('p', { class: 'lead' }, 'See what a new version would break before anyone publishes it.'),
    form, result);
  ctx.titled(`Check a change · ${c.name}`, ctx.focus);
}

function report(r) {
  const broken = r.consumers.filter((x) => x.broken);
  return h('section', { class: 'report', 'aria-labelledby': 'report-h' },
    h('h2', { id: 'report-h', tabindex: '-1' }, r.compatible ? '✓ Compatible' : '✕ Breaking change'),
    h('p', { class: r.compatible ? 'notice ok' : 'banner deprecated' },
      `Version ${r.proposedVersion} compared with ${r.againstVersion || 'nothing (first version)'} under ${r.mode} compatibility: `,
      r.compatible ? 'it may be published.' : `publishing would be refused; ${broken.length} consumer${broken.length === 1 ? '' : 's'} would break.`),
    h('h3', {}, 'What changed'),
    r.changes.length ? table([
      { label: 'Where', cell: (x) => h('code', {}, x.pointer) },
      { label: 'Change', cell: (x) => x.message },
      { label: 'Old readers', cell: (x) => (x.compatible ? h('span', { class: 'muted' }, 'fine') : h('span', { class: 'badge warn' }, 'affected')) },
    ], r.changes) : h('p', { class: 'muted' }, 'No structural change.'),
    r.breaking.length ? [h('h3', {}, 'Why it breaks'), table([
      { label: 'Against', cell: (x) => x.againstVersion },
      { label: 'Direction', cell: (x) => (x.direction === 'BACKWARD' ? 'new readers cannot read old data' : 'old readers cannot read new data') },
      { label: 'Where', cell: (x) => h('code', {}, x.pointer) },
      { label: 'Problem', cell: (x) => x.message },
    ], r.breaking)] : null,
    h('h3', {}, 'Who reads this contract'),
    r.consumers.length ? table([
      { label: 'Consumer', cell: (x) => (x.kind === 'template' ? link(`/templates/${encodeURIComponent(x.key)}`, x.key) : `workflow ${x.key}`) },
      { label: 'Kind', cell: (x) => (x.kind === 'instance' ? 'live workflow' : 'template') },
      { label: 'Version', cell: (x) => x.version },
      { label: 'Fields read', cell: (x) => x.fields.join(', ') },
      { label: 'Steps', cell: (x) => x.steps.map((s) => s.id).join(', ') },
      { label: 'Impact', cell: (x) => (x.broken ? h('span', { class: 'badge bad' }, `breaks (${x.brokenBy.join(', ')})`) : h('span', { class: 'badge ok' }, 'unaffected')) },
    ], r.consumers) : empty('Nothing reads this contract yet.'));
}
