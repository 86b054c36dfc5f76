// A form generated from a JSON Schema (a template's parameters, a connector's settings):
// strings, enums as selects, numbers, booleans, arrays (checkbox groups for enums, add/remove
// rows otherwise), nested objects as fieldsets, required marks and descriptions. Every control
// is registered under its path (`params.min_score`, `params.form_ids.0`) so an error the server
// names by that path is shown next to the right control.
//
// Local checks are limited to what the browser must know to build a value (a number that is not
// a number, a required field left empty); the rules themselves (ranges, patterns) are the
// server's, which answers in the same words for every client.

import { h, uid } from './dom.js';

const idFor = (base, path) => `${base}-${path.replace(/[^A-Za-z0-9_-]/g, '-')}`;

export class SchemaForm {
  /** `schema`: the JSON Schema; `prefix`: the path the server uses (`params`). */
  constructor(schema, { prefix = 'params', values, secretsAsPasswords = false } = {}) {
    this.base = uid('sf');
    this.prefix = prefix;
    this.secrets = secretsAsPasswords;
    this.controls = new Map();
    this.formError = h('div', { class: 'field-error', role: 'alert', hidden: true });
    this.root = this.node(schema || { type: 'object', properties: {} }, prefix, values, { top: true });
    this.element = h('div', { class: 'schema-form' }, this.formError, this.root.el);
  }

  register(path, input, errorEl) {
    this.controls.set(path, { input, errorEl });
  }

  labelFor(id, title, required) {
    return h('label', { for: id }, title, required ? h('span', { class: 'req' }, ' (required)') : null);
  }

  hintAndError(id, schema) {
    const hint = schema.description ? h('p', { class: 'hint', id: `${id}-hint` }, schema.description) : null;
    const err = h('p', { class: 'field-error', id: `${id}-err`, hidden: true });
    return { hint, err, describedBy: [hint ? hint.id : null, err.id].filter(Boolean).join(' ') };
  }

  node(schema, path, value, opts = {}) {
    const initial = value !== undefined ? value : schema.default;
    const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
    if (type === 'object' && schema.properties) return this.objectNode(schema, path, initial || {}, opts);
    if (type === 'array' && schema.items && Array.isArray(schema.items.enum)) return this.enumArrayNode(schema, path, initial, opts);
    if (type === 'array' && schema.items) return this.arrayNode(schema, path, initial, opts);
    if (Array.isArray(schema.enum)) return this.selectNode(schema, path, initial, opts);
    if (type === 'boolean') return this.booleanNode(schema, path, initial, opts);
    if (type === 'number' || type === 'integer') return this.numberNode(schema, path, initial, opts, type);
    if (type === 'string') return this.stringNode(schema, path, initial, opts);
    return this.jsonNode(schema, path, initial, opts);
  }

  title(schema, path) {
    return schema.title || path.split('.').pop().replace(/_/g, ' ');
  }

  objectNode(schema, path, value, opts) {
    const required = new Set(schema.required || []);
    const children = Object.entries(schema.properties).map(([name, sub]) => ({
      name, required: required.has(name), node: this.node(sub, `${path}.${name}`, value[name], { required: required.has(name) }),
    }));
    const err = h('p', { class: 'field-error', hidden: true, id: idFor(this.base, path) + '-err' });
    const inner = children.map((c) => c.node.el);
    const el = opts.top ? h('div', { class: 'object' }, err, inner)
      : h('fieldset', { class: 'object' }, h('legend', {}, this.title(schema, path), opts.required ? h('span', { class: 'req' }, ' (required)') : null),
        schema.description ? h('p', { class: 'hint' }, schema.description) : null, err, inner);
    this.register(path, el.querySelector('input, select, textarea, button') || el, err);
    return {
      el,
      get: (errors) => {
        const out = {};
        for (const c of children) {
          const v = c.node.get(errors);
          if (v !== undefined) out[c.name] = v;
        }
        return out;
      },
    };
  }

  control(schema, path, input, opts, { inline = false } = {}) {
    const id = input.id;
    const { hint, err, describedBy } = this.hintAndError(id, schema);
    input.setAttribute('aria-describedby', describedBy);
    if (opts.required) input.setAttribute('aria-required', 'true');
    this.register(path, input, err);
    if (inline) {
      return h('div', { class: 'field check' }, input, this.labelFor(id, this.title(schema, path), false), hint, err);
    }
    return h('div', { class: 'field' }, this.labelFor(id, this.title(schema, path), opts.required), hint, input, err);
  }

  stringNode(schema, path, value, opts) {
    const id = idFor(this.base, path);
    const kind = schema['x-secret'] && this.secrets ? 'password'
      : schema.format === 'email' ? 'email' : schema.format === 'uri' ? 'url' : schema.format === 'date-time' ? 'datetime-local' : 'text';
    let shown = value === undefined || value === null ? '' : String(value);
    if (kind === 'datetime-local' && shown) shown = shown.replace(/(:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/, '$1').slice(0, 16);
    const input = (schema.maxLength || 0) > 200
      ? h('textarea', { id, name: path, rows: 3 }, shown)
      : h('input', { id, name: path, type: kind, value: shown, autocomplete: 'off' });
    if (schema.maxLength) input.setAttribute('maxlength', schema.maxLength);
    const el = this.control(schema, path, input, opts);
    return {
      el,
      get: (errors) => {
        const v = input.value;
        if (v === '') {
          if (opts.required) errors[path] = 'is required';
          return undefined;
        }
        if (kind === 'datetime-local') return new Date(`${v}Z`).toISOString().replace('.000Z', 'Z');
        return v;
      },
    };
  }

  numberNode(schema, path, value, opts, type) {
    const id = idFor(this.base, path);
    const input = h('input', { id, name: path, type: 'number', inputmode: type === 'integer' ? 'numeric' : 'decimal', step: type === 'integer' ? '1' : 'any', value: value === undefined ? '' : String(value) });
    if (schema.minimum !== undefined) input.setAttribute('min', schema.minimum);
    if (schema.maximum !== undefined) input.setAttribute('max', schema.maximum);
    const el = this.control(schema, path, input, opts);
    return {
      el,
      get: (errors) => {
        const raw = input.value.trim();
        if (raw === '') {
          if (input.validity && input.validity.badInput) errors[path] = 'is not a number';
          else if (opts.required) errors[path] = 'is required';
          return undefined;
        }
        const n = Number(raw);
        if (Number.isNaN(n)) { errors[path] = 'is not a number'; return undefined; }
        return n;
      },
    };
  }

  booleanNode(schema, path, value, opts) {
    const id = idFor(this.base, path);
    const input = h('input', { id, name: path, type: 'checkbox', checked: Boolean(value) });
    const el = this.control(schema, path, input, opts, { inline: true });
    return { el, get: () => input.checked };
  }

  selectNode(schema, path, value, opts) {
    const id = idFor(this.base, path);
    const input = h('select', { id, name: path },
      opts.required && value !== undefined ? null : h('option', { value: '' }, opts.required ? '— choose —' : '— none —'),
      schema.enum.map((v, i) => h('option', { value: String(i), selected: JSON.stringify(v) === JSON.stringify(value) }, String(v))));
    const el = this.control(schema, path, input, opts);
    return {
      el,
      get: (errors) => {
        if (input.value === '') { if (opts.required) errors[path] = 'is required'; return undefined; }
        return schema.enum[Number(input.value)];
      },
    };
  }

  enumArrayNode(schema, path, value, opts) {
    const chosen = new Set((value || []).map((v) => JSON.stringify(v)));
    const boxes = schema.items.enum.map((v) => {
      const id = idFor(this.base, `${path}.${v}`);
      const box = h('input', { id, type: 'checkbox', name: path, value: String(v), checked: chosen.has(JSON.stringify(v)) });
      return { v, box, el: h('div', { class: 'check' }, box, h('label', { for: id }, String(v))) };
    });
    const id = idFor(this.base, path);
    const { hint, err } = this.hintAndError(id, schema);
    const el = h('fieldset', { class: 'field group', id, 'aria-describedby': [hint && hint.id, err.id].filter(Boolean).join(' ') },
      h('legend', {}, this.title(schema, path), opts.required ? h('span', { class: 'req' }, ' (required)') : null), hint,
      h('div', { class: 'checks' }, boxes.map((b) => b.el)), err);
    this.register(path, boxes[0] ? boxes[0].box : el, err);
    return { el, get: () => boxes.filter((b) => b.box.checked).map((b) => b.v) };
  }

  arrayNode(schema, path, value, opts) {
    const id = idFor(this.base, path);
    const { hint, err } = this.hintAndError(id, schema);
    const list = h('ol', { class: 'array-items' });
    const rows = [];
    const title = this.title(schema, path);
    const addRow = (v) => {
      const row = { node: null, li: null };
      const redraw = () => {
        rows.forEach((r, i) => {
          const fresh = this.node({ title: `${title} ${i + 1}`, ...schema.items }, `${path}.${i}`, r.node ? r.node.get({}) : r.initial, { required: true });
          r.node = fresh;
          r.li.replaceChildren(fresh.el, r.remove);
          r.remove.textContent = `Remove ${title.toLowerCase()} ${i + 1}`;
        });
      };
      row.initial = v;
      row.remove = h('button', { type: 'button', class: 'small secondary' }, 'Remove');
      row.remove.addEventListener('click', () => {
        rows.splice(rows.indexOf(row), 1);
        row.li.remove();
        redraw();
        add.focus();
      });
      row.li = h('li', {});
      rows.push(row);
      list.append(row.li);
      redraw();
      return row;
    };
    const add = h('button', { type: 'button', class: 'small' }, `Add ${title.toLowerCase()}`);
    add.addEventListener('click', () => {
      const row = addRow(undefined);
      const first = row.li.querySelector('input, select, textarea');
      if (first) first.focus();
    });
    (Array.isArray(value) ? value : []).forEach((v) => addRow(v));
    const el = h('fieldset', { class: 'field group', id },
      h('legend', {}, title, opts.required ? h('span', { class: 'req' }, ' (required)') : null), hint, list, add, err);
    this.register(path, add, err);
    return {
      el,
      get: (errors) => rows.map((r, i) => {
        const sub = {};
        const v = r.node.get(sub);
        for (const [k, m] of Object.entries(sub)) errors[k] = m === 'is required' ? `item ${i + 1} is empty; fill it in or remove it` : m;
        return v;
      }),
    };
  }

  jsonNode(schema, path, value, opts) {
    const id = idFor(this.base, path);
    const input = h('textarea', { id, name: path, rows: 4, class: 'code' }, value === undefined ? '' : JSON.stringify(value, null, 2));
    const el = this.control({ ...schema, description: `${schema.description || ''} (JSON)`.trim() }, path, input, opts);
    return {
      el,
      get: (errors) => {
        if (!input.value.trim()) { if (opts.required) errors[path] = 'is required'; return undefined; }
        try { return JSON.parse(input.value); } catch (e) { errors[path] = `is not valid JSON (${e.message})`; return undefined; }
      },
    };
  }

  /** The value and local errors: `{value, errors: {path: message}}`. */
  collect() {
    const errors = {};
    const value = this.root.get(errors);
    return { value, errors };
  }

  clearErrors() {
    this.formError.hidden = true;
    for (const { input, errorEl } of this.controls.values()) {
      errorEl.hidden = true;
      errorEl.textContent = '';
      if (input.removeAttribute) input.removeAttribute('aria-invalid');
    }
  }

  /**
   * Shows `{path: [messages]}` next to the controls; a path without a control goes to its
   * nearest registered parent. Returns the first control marked, to focus.
   */
  showErrors(byPath) {
    let first = null;
    for (const [rawPath, msgs] of Object.entries(byPath)) {
      let path = rawPath;
      const messages = [].concat(msgs).map((m) => String(m).replace(`${rawPath}: `, ''));
      const missing = messages.map((m) => /^"([^"]+)" is a required property/.exec(m)).find(Boolean);
      if (missing && this.controls.has(`${path}.${missing[1]}`)) path = `${path}.${missing[1]}`;
      while (path && !this.controls.has(path)) path = path.includes('.') ? path.slice(0, path.lastIndexOf('.')) : '';
      const target = this.controls.get(path);
      const el = target ? target.errorEl : this.formError;
      el.textContent = messages.map((m) => m.charAt(0).toUpperCase() + m.slice(1)).join(' ');
      el.hidden = false;
      if (target && target.input.setAttribute) target.input.setAttribute('aria-invalid', 'true');
      if (!first) first = target ? target.input : el;
    }
    return first;
  }

  /** Whether a server error path belongs to this form. */
  owns(path) {
    return path === this.prefix || path.startsWith(`${this.prefix}.`);
  }
}
