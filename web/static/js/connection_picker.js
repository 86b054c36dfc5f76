// Choosing a connection for each of a template's slots: only connections of the slot's category
// that the policy lets the user use (the server filters `connections`), plus setting up a new
// one in place from the connector's settings schema (secrets typed as passwords, never shown
// again).

import { gql } from './api.js';
import { h, replace, errorBox } from './dom.js';
import { SchemaForm } from './schema_form.js';

const CONNECTORS = `{ connectors(first: 100) { edges { node { key name category lifecycle latestVersion
  versions { version settingsSchema } } } } connections { id name connector owner } }`;

/** Loads what the pickers need: connectors by key and the usable connections. */
export async function loadConnectionData() {
  const d = await gql(CONNECTORS);
  const connectors = new Map(d.connectors.edges.map((e) => [e.node.key, e.node]));
  const keys = [...connectors.keys()];
  const fields = keys.map((k, i) => `c${i}: can(object: "catalog:connector:${k}", action: "connect")`);
  const can = keys.length ? (await gql(`{ me { ${fields.join(' ')} } }`)).me : {};
  keys.forEach((k, i) => { connectors.get(k).canConnect = can[`c${i}`]; });
  return { connectors, connections: d.connections };
}

/**
 * One picker per slot. Returns `{element, bindings(errors), showErrors(byPath), describe()}`.
 * `bindings` lists `{slot, connection}`; `describe` maps slot → the chosen connection's label.
 */
export function slotPickers(slots, data) {
  const pickers = Object.entries(slots || {}).map(([slot, spec]) => picker(slot, spec, data));
  return {
    element: pickers.length ? h('div', { class: 'slots' }, pickers.map((p) => p.el)) : h('p', { class: 'muted' }, 'This template needs no connections.'),
    bindings: (errors) => pickers.map((p) => p.binding(errors)).filter(Boolean),
    describe: () => Object.fromEntries(pickers.map((p) => [p.slot, p.label()])),
    showErrors: (byPath) => {
      let first = null;
      for (const p of pickers) {
        const msgs = byPath[`connections.${p.slot}`];
        if (msgs) { p.showError(msgs); first = first || p.select; }
      }
      return first;
    },
    clearErrors: () => pickers.forEach((p) => p.showError(null)),
  };
}

function picker(slot, spec, data) {
  const id = `slot-${slot}`;
  const matching = () => data.connections.filter((c) => (data.connectors.get(c.connector) || {}).category === spec.category);
  const select = h('select', { id, name: id, 'aria-describedby': `${id}-hint ${id}-err`, 'aria-required': 'true' });
  const fill = (chosen) => {
    const list = matching();
    replace(select,
      h('option', { value: '' }, list.length ? '— choose a connection —' : '— none yet: set one up below —'),
      list.map((c) => h('option', { value: String(c.id), selected: String(c.id) === String(chosen) },
        `${c.name} (${(data.connectors.get(c.connector) || {}).name || c.connector}, #${c.id})`)));
  };
  fill(matching().length === 1 ? matching()[0].id : '');
  const err = h('p', { class: 'field-error', id: `${id}-err`, hidden: true });
  const setup = newConnectionForm(slot, spec, data, (conn) => {
    data.connections.unshift(conn);
    fill(conn.id);
    select.focus();
  });
  const el = h('div', { class: 'field slot' },
    h('label', { for: id }, `${slot.replace(/_/g, ' ')} `, h('span', { class: 'muted' }, `(a ${spec.category} connection)`), h('span', { class: 'req' }, ' (required)')),
    h('p', { class: 'hint', id: `${id}-hint` }, spec.description || ''),
    select, err, setup);
  return {
    slot,
    el,
    select,
    binding: (errors) => {
      if (!select.value) { errors[`connections.${slot}`] = 'choose a connection, or set one up'; return null; }
      return { slot, connection: Number(select.value) };
    },
    label: () => (select.selectedOptions[0] && select.value ? select.selectedOptions[0].textContent : 'not chosen'),
    showError: (msgs) => {
      err.hidden = !msgs;
      err.textContent = msgs ? [].concat(msgs).map((m) => String(m).replace(`connections.${slot}: `, '')).join(' ') : '';
      if (msgs) select.setAttribute('aria-invalid', 'true'); else select.removeAttribute('aria-invalid');
    },
  };
}

function newConnectionForm(slot, spec, data, created) {
  const usable = [...data.connectors.values()].filter((c) => c.category === spec.category && c.canConnect && c.lifecycle !== 'RETIRED');
  if (!usable.length) {
    return h('p', { class: 'hint' }, `You may not set up ${spec.category} connections yourself; ask the platform team.`);
  }
  const cid = `new-${slot}`;
  const connectorSelect = h('select', { id: `${cid}-connector` }, usable.map((c) => h('option', { value: c.key }, c.name)));
  const name = h('input', { id: `${cid}-name`, type: 'text', autocomplete: 'off' });
  const formHost = h('div');
  const status = h('div', { 'aria-live': 'polite' });
  let form = null;
  const drawForm = () => {
    const c = data.connectors.get(connectorSelect.value);
    const v = c.versions.find((x) => x.version === c.latestVersion) || c.versions[0] || {};
    form = new SchemaForm(v.settingsSchema, { prefix: 'settings', secretsAsPasswords: true });
    replace(formHost, form.element);
  };
  connectorSelect.addEventListener('change', drawForm);
  drawForm();
  const save = h('button', { type: 'button' }, 'Save connection');
  save.addEventListener('click', async () => {
    form.clearErrors();
    replace(status);
    const { value, errors } = form.collect();
    if (!name.value.trim()) errors.name = 'is required';
    if (Object.keys(errors).length) {
      if (errors.name) replace(status, h('p', { class: 'field-error' }, 'Name the connection.'));
      const first = form.showErrors(errors);
      if (first && first.focus) first.focus();
      return;
    }
    save.disabled = true;
    try {
      const d = await gql('mutation($c: String!, $n: String!, $s: JSON!) { createConnection(connector: $c, name: $n, settings: $s) { id name connector owner } }',
        { c: connectorSelect.value, n: name.value.trim(), s: value });
      created(d.createConnection);
      details.open = false;
      name.value = '';
      drawForm();
    } catch (e) {
      const byField = e.byField ? e.byField() : {};
      const mine = Object.fromEntries(Object.entries(byField).filter(([k]) => form.owns(k)));
      const first = form.showErrors(mine);
      const rest = Object.entries(byField).filter(([k]) => !form.owns(k)).flatMap(([, m]) => m);
      if (rest.length) replace(status, errorBox({ errors: rest.map((message) => ({ message })) }, 'The connection was not saved'));
      if (first && first.focus) first.focus();
    } finally {
      save.disabled = false;
    }
  });
  const details = h('details', { class: 'new-connection' },
    h('summary', {}, `Set up a new ${spec.category} connection`),
    h('div', { class: 'field' }, h('label', { for: connectorSelect.id }, 'System'), connectorSelect),
    h('div', { class: 'field' }, h('label', { for: name.id }, 'Connection name', h('span', { class: 'req' }, ' (required)')), name),
    formHost, status, save);
  // Enter in these fields saves the connection instead of submitting the surrounding wizard step.
  details.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && e.target.tagName === 'INPUT') { e.preventDefault(); save.click(); }
  });
  return details;
}
