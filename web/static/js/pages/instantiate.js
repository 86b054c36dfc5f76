// The instantiate wizard: 1. name and settings (a form generated from the template's parameter
// schema), 2. connections for each slot, 3. review what data will flow where, then create.
// Server-side errors come back naming their field (`params.min_score`, `connections.crm`) and
// are shown next to it, on the step that holds it.

import { gql } from '../api.js';
import { h, link, replace, loading, errorBox, piiBadge, statusBadge, announce } from '../dom.js';
import { SchemaForm } from '../schema_form.js';
import { slotPickers, loadConnectionData } from '../connection_picker.js';
import { contractFields, expectedFlows, triggerText } from '../flows.js';
import { NOTICE, canInstantiate, noticeBanner, sunsetPassed } from '../deprecation.js';

const TEMPLATE = `query($k: String!) { template(key: $k) { key name summary latestVersion lifecycle
  versions { version lifecycle sensitive parameters trigger slots reads steps } }
  notices: deprecationNotices(kind: TEMPLATE, key: $k) { ${NOTICE} } }`;
const INSTANTIATE = `mutation($t: String!, $v: String, $n: String!, $p: JSON!, $c: [SlotBinding!]!) {
  instantiateTemplate(template: $t, version: $v, name: $n, params: $p, connections: $c) {
    id name status templateVersion flows approverRoles owner } }`;
const STEPS = ['Name and settings', 'Connections', 'Review and create'];

export async function render(main, ctx) {
  const key = ctx.params.key;
  replace(main, h('h1', {}, 'Set up a workflow'), loading('Loading the template'));
  let t;
  let conns;
  let notices;
  try {
    let d;
    [d, conns] = await Promise.all([gql(TEMPLATE, { k: key }), loadConnectionData()]);
    t = d.template;
    notices = d.notices || [];
  } catch (e) {
    replace(main, h('h1', {}, 'Set up a workflow'), errorBox(e, 'The template could not be loaded'));
    ctx.titled('Set up a workflow', ctx.focus);
    return;
  }
  if (!t) {
    replace(main, h('h1', {}, 'Not in the catalog'), h('p', {}, `There is no template “${key}”. `, link('/catalog', 'Back to the catalog')));
    ctx.titled('Not found', ctx.focus);
    return;
  }
  const asked = ctx.query.get('version');
  const v = t.versions.find((x) => x.version === (asked || t.latestVersion)) || (asked ? null : t.versions[0]);
  const notice = v ? notices.find((n) => n.version === v.version) : null;
  if (!v || !canInstantiate(v, notices)) {
    const back = link(`/templates/${encodeURIComponent(t.key)}`, `Back to ${t.name}`);
    replace(main,
      h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, link('/catalog', 'Catalog'), ' › ', link(`/templates/${encodeURIComponent(t.key)}`, t.name), ' › Set up'),
      h('h1', {}, `Set up “${t.name}”`),
      !v ? h('p', { class: 'notice blocked' }, `${t.name} has no version ${asked}. `, back, '.')
        : h('p', { class: 'notice blocked' }, h('strong', {}, `New workflows can no longer be created from version ${v.version}`),
          notice && sunsetPassed(notice) ? ': its sunset has passed.' : `: it is ${v.lifecycle.toLowerCase()}.`, ' ', back, '.'),
      notice ? noticeBanner(notice, { lifecycle: v.lifecycle }) : null);
    ctx.titled(`Set up ${t.name}`, ctx.focus);
    return;
  }
  const wizard = new Wizard(main, ctx, t, v, conns, notice);
  wizard.draw();
  ctx.titled(`Set up ${t.name}`, ctx.focus);
}

class Wizard {
  constructor(main, ctx, template, version, conns, notice) {
    Object.assign(this, { main, ctx, template, version, notice, step: 0 });
    this.name = h('input', { id: 'wf-name', name: 'name', type: 'text', autocomplete: 'off', 'aria-required': 'true', 'aria-describedby': 'wf-name-hint wf-name-err', value: '' });
    this.nameErr = h('p', { class: 'field-error', id: 'wf-name-err', hidden: true });
    this.params = new SchemaForm(version.parameters, { prefix: 'params' });
    this.slots = slotPickers(version.slots, conns);
    this.status = h('div', { 'aria-live': 'polite' });
    this.stepHost = h('div');
    this.progress = h('ol', { class: 'wizard-steps' });
  }

  draw() {
    const t = this.template;
    replace(this.main,
      h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, link('/catalog', 'Catalog'), ' › ', link(`/templates/${encodeURIComponent(t.key)}`, t.name), ' › Set up'),
      h('h1', {}, `Set up “${t.name}”`),
      h('p', { class: 'lead' }, t.summary),
      this.version.version !== t.latestVersion ? h('p', { class: 'notice' }, `You are setting up version ${this.version.version}; the current version is ${t.latestVersion}.`) : null,
      this.notice ? noticeBanner(this.notice, { lifecycle: this.version.lifecycle })
        : this.version.lifecycle === 'DEPRECATED' ? h('div', { class: 'banner deprecated', role: 'note' }, `Version ${this.version.version} is deprecated; new workflows should use a newer version when one is published.`) : null,
      this.progress, this.status, this.stepHost);
    this.show(0);
  }

  show(step, focus) {
    this.step = step;
    replace(this.progress, STEPS.map((label, i) => h('li', { 'aria-current': i === step ? 'step' : null, class: i < step ? 'done' : '' }, `${i + 1}. ${label}`)));
    const pages = [() => this.settingsStep(), () => this.connectionsStep(), () => this.reviewStep()];
    const heading = h('h2', { tabindex: '-1', id: 'step-h' }, STEPS[step]);
    const form = h('form', { novalidate: true, class: 'wizard', 'aria-labelledby': 'step-h' }, heading, pages[step]());
    form.addEventListener('submit', (e) => { e.preventDefault(); this.next(); });
    replace(this.stepHost, form);
    this.ctx.titled(`${STEPS[step]} · Set up ${this.template.name}`, false);
    if (focus) (focus.focus ? focus : heading).focus();
    else if (step > 0) heading.focus();
  }

  buttons(nextLabel) {
    return h('div', { class: 'buttons' },
      this.step > 0 ? h('button', { type: 'button', class: 'secondary', onclick: () => this.show(this.step - 1) }, 'Back') : null,
      h('button', { type: 'submit', class: 'primary' }, nextLabel));
  }

  settingsStep() {
    return [
      h('div', { class: 'field' },
        h('label', { for: 'wf-name' }, 'Workflow name', h('span', { class: 'req' }, ' (required)')),
        h('p', { class: 'hint', id: 'wf-name-hint' }, 'A name your team will recognise, e.g. “EMEA website forms”.'),
        this.name, this.nameErr),
      this.params.element,
      this.buttons('Next: connections'),
    ];
  }

  connectionsStep() {
    return [h('p', {}, 'Choose where the data goes. You only see connections the policy lets you use.'), this.slots.element, this.buttons('Next: review')];
  }

  reviewStep() {
    const { value: params } = this.params.collect();
    const chosen = this.slots.describe();
    const flowsBox = h('div', {}, loading('Working out what data flows where'));
    contractFields(this.version).then(({ pii }) => {
      const flows = expectedFlows(this.version, pii);
      replace(flowsBox, h('ul', { class: 'flows' }, flows.map((f) => h('li', {},
        h('p', {}, h('strong', {}, f.slot), ` → ${chosen[f.slot] || 'not chosen'} `, h('span', { class: 'muted' }, `(${f.category})`)),
        f.fields.length ? h('ul', { class: 'field-chips' }, f.fields.map((x) => h('li', {}, h('code', {}, x.name), ' ', piiBadge(x.pii))))
          : h('p', { class: 'muted' }, 'No event fields.')))));
    }).catch((e) => replace(flowsBox, errorBox(e)));
    const rows = Object.entries(params).map(([k, val]) => [h('dt', {}, (((this.version.parameters || {}).properties || {})[k] || {}).title || k), h('dd', {}, typeof val === 'object' ? JSON.stringify(val) : String(val))]);
    return [
      h('dl', { class: 'facts wide' },
        h('dt', {}, 'Name'), h('dd', {}, this.name.value),
        h('dt', {}, 'Template'), h('dd', {}, `${this.template.name} ${this.version.version}`),
        h('dt', {}, 'Starts'), h('dd', {}, triggerText(this.version.trigger)),
        rows),
      h('h3', {}, 'What data will flow where'),
      h('p', { class: 'hint' }, 'The server checks every field against the policy when you create the workflow; a flow the policy does not allow stops the creation and says why.'),
      flowsBox,
      this.version.sensitive ? h('p', { class: 'notice' }, 'This template is sensitive: the workflow waits for a second person to approve it before it runs.') : null,
      this.buttons('Create workflow'),
    ];
  }

  /** Local checks of the current step; true when it may move on. */
  check(step) {
    if (step === 0) {
      this.params.clearErrors();
      this.nameErr.hidden = true;
      this.name.removeAttribute('aria-invalid');
      const { errors } = this.params.collect();
      let first = this.params.showErrors(errors);
      if (!this.name.value.trim()) {
        this.nameErr.textContent = 'Give the workflow a name.';
        this.nameErr.hidden = false;
        this.name.setAttribute('aria-invalid', 'true');
        first = this.name;
      }
      if (first) { first.focus(); return false; }
    }
    if (step === 1) {
      this.slots.clearErrors();
      const errors = {};
      this.slots.bindings(errors);
      const first = this.slots.showErrors(Object.fromEntries(Object.entries(errors).map(([k, m]) => [k, [m]])));
      if (first) { first.focus(); return false; }
    }
    return true;
  }

  next() {
    replace(this.status);
    if (!this.check(this.step)) return;
    if (this.step < 2) this.show(this.step + 1);
    else this.create();
  }

  async create() {
    const { value: params } = this.params.collect();
    const bindings = this.slots.bindings({});
    const button = this.stepHost.querySelector('button[type=submit]');
    button.disabled = true;
    replace(this.status, loading('Creating the workflow'));
    try {
      const d = await gql(INSTANTIATE, {
        t: this.template.key, v: this.version.version, n: this.name.value.trim(), p: params, c: bindings,
      });
      this.created(d.instantiateTemplate);
    } catch (e) {
      button.disabled = false;
      replace(this.status);
      this.serverErrors(e);
    }
  }

  serverErrors(e) {
    const byField = e.byField ? e.byField() : { '': [e.message] };
    const paramErrors = Object.fromEntries(Object.entries(byField).filter(([k]) => this.params.owns(k)));
    const slotErrors = Object.fromEntries(Object.entries(byField).filter(([k]) => k.startsWith('connections.')));
    const other = Object.entries(byField).filter(([k]) => !this.params.owns(k) && !k.startsWith('connections.') && k !== 'name');
    if (byField.name || Object.keys(paramErrors).length) {
      this.show(0);
      if (byField.name) {
        this.nameErr.textContent = byField.name.join(' ');
        this.nameErr.hidden = false;
        this.name.setAttribute('aria-invalid', 'true');
      }
      const first = this.params.showErrors(paramErrors) || (byField.name ? this.name : null);
      if (first && first.focus) first.focus();
    } else if (Object.keys(slotErrors).length) {
      this.show(1);
      const first = this.slots.showErrors(slotErrors);
      if (first) first.focus();
    }
    if (other.length) {
      replace(this.status, errorBox({ errors: other.flatMap(([, m]) => m).map((message) => ({ message })), code: e.code }, 'The workflow was not created'));
    }
    announce('The workflow was not created; see the errors.');
  }

  created(inst) {
    const pending = inst.status === 'pending_approval';
    replace(this.main,
      h('h1', {}, `“${inst.name}” is set up`),
      h('p', { class: 'lead' }, 'Status: ', statusBadge(inst.status)),
      pending ? h('p', { class: 'notice' }, `It waits for approval by someone with the role ${inst.approverRoles.map((r) => r.replace(/_/g, ' ')).join(' or ') || '(none named in the policy)'} — not you: approvals need a second person.`) : null,
      h('h2', {}, 'Data the policy allowed to flow'),
      h('ul', { class: 'flows' }, Object.entries(inst.flows || {}).map(([slot, f]) => h('li', {},
        h('p', {}, h('strong', {}, slot), ` → ${f.category}`),
        h('ul', { class: 'field-chips' }, Object.entries(f.fields || {}).map(([name, cls]) => h('li', {}, h('code', {}, name), ' ', piiBadge(cls))))))),
      h('p', { class: 'actions' },
        h('a', { class: 'button primary', href: `/workflows/${inst.id}`, 'data-link': true }, 'Open the workflow'), ' ',
        link('/workflows', 'All my workflows')));
    this.ctx.titled(`${inst.name} is set up`, true);
    announce(`Workflow ${inst.name} created.`);
  }
}
