// The policy, readable: every rule of policy.csv as a sentence under the file's own section
// headings, the raw files for reference, and an "explain a decision" form that asks the server
// the same question as `switchyard policy explain`.

import { gql } from '../api.js';
import { h, replace, loading, errorBox } from '../dom.js';

const who = (s) => {
  if (s === 'flows') return 'Data';
  const [kind, name] = s.split(':');
  const pretty = (name || s).replace(/_/g, ' ');
  return kind === 'user' ? `User ${pretty}` : pretty.charAt(0).toUpperCase() + pretty.slice(1);
};

/** "any template", "template lead-capture", "the audit log"… */
export function objectText(o) {
  const p = o.split(':');
  if (p[0] === 'catalog') {
    if (p[1] === '**' || p[1] === '*') return 'anything in the catalog';
    if (p[2] === '*' || p[2] === '**') return `any ${p[1]}`;
    return `${p[1]} ${p.slice(2).join(':')}`;
  }
  const any = (x) => (x === '*' || x === '**' ? null : x);
  if (p[0] === 'connection') return any(p[1]) ? `${p[1]} connections` : 'connections';
  if (p[0] === 'workflow') return any(p[1]) ? `${p[1]} workflows` : 'workflows';
  if (p[0] === 'data') {
    const cls = any(p[1]) ? `${p[1]} data` : 'data of every class';
    return any(p[2]) ? `${cls} in ${p[2]} workflows` : `${cls} in workflows`;
  }
  const fixed = { 'audit:log': 'the audit log', 'policy:files': 'the policy files', 'ingest:write-keys': 'event write keys' };
  return fixed[o] || o;
}

/** Whose objects an owned-object rule covers: "", " they own", " of their team". */
function scopeText(r) {
  const owned = /^(connection|workflow|data):/.test(r.object);
  if (r.scope === 'own') return ' they own';
  if (r.scope === 'team') return ' of their team';
  return owned ? ' of anyone' : '';
}

function sentence(r) {
  if (r.kind === 'g') return [h('strong', {}, who(r.subject)), ` has every permission of ${who(r.object).toLowerCase()}.`];
  if (r.subject === 'flows') {
    const [, cls, dest] = r.object.split(':');
    const what = cls === '*' ? 'Any data' : cls === 'none' ? 'Non-personal data' : `${cls.charAt(0).toUpperCase() + cls.slice(1)} data`;
    const where = dest === '*' ? 'any destination' : `${dest} destinations`;
    return r.effect === 'deny' ? [h('strong', {}, what), ' may ', h('em', {}, 'never'), ` be sent to ${where}.`] : [h('strong', {}, what), ` may be sent to ${where}.`];
  }
  const what = `${r.action.replace(/_/g, ' ')} ${objectText(r.object)}${scopeText(r)}`;
  return r.effect === 'deny'
    ? [h('strong', {}, who(r.subject)), ' may ', h('em', {}, 'never'), ` ${what}.`]
    : [h('strong', {}, who(r.subject)), ` may ${what}.`];
}

/** Rules grouped under the `# --- heading ---` comments of policy.csv. */
function sections(text, rules) {
  const byLine = new Map(rules.map((r) => [r.line, r]));
  const out = [];
  let cur = { title: 'Rules', rules: [] };
  text.split('\n').forEach((line, i) => {
    const m = /^#\s*-+\s*(.*?)\s*-*\s*$/.exec(line.trim());
    if (m && m[1]) {
      if (cur.rules.length) out.push(cur);
      cur = { title: m[1].charAt(0).toUpperCase() + m[1].slice(1), rules: [] };
    } else if (byLine.has(i + 1)) {
      cur.rules.push(byLine.get(i + 1));
    }
  });
  if (cur.rules.length) out.push(cur);
  return out;
}

export async function render(main, ctx) {
  const body = h('div', {}, loading('Loading the policy'));
  replace(main,
    h('h1', {}, 'Policy'),
    h('p', { class: 'lead' }, 'Who may do what, and which data may go where. Anything not allowed here is denied; a “never” rule beats any allow.'),
    body);
  ctx.titled('Policy', ctx.focus);
  let files;
  try {
    files = (await gql('{ policyFiles { model policy tests rules { line kind subject object action scope effect } } }')).policyFiles;
  } catch (e) {
    replace(body, errorBox(e, 'The policy could not be loaded'));
    return;
  }
  const roles = [...new Set(files.rules.flatMap((r) => [r.subject, r.kind === 'g' ? r.object : null])
    .filter((s) => s && s.startsWith('role:')).map((s) => s.slice(5)))].sort();
  const actions = [...new Set(files.rules.map((r) => r.action).filter(Boolean))].sort();
  replace(body,
    explainForm(roles, actions),
    h('section', { 'aria-labelledby': 'rules-h' }, h('h2', { id: 'rules-h' }, 'The rules'),
      sections(files.policy, files.rules).map((s) => h('div', { class: 'rule-section' },
        h('h3', {}, s.title),
        h('ul', { class: 'rules' }, s.rules.map((r) => h('li', { class: r.effect === 'deny' ? 'deny' : '' },
          h('span', { class: 'line' }, `line ${r.line}`), ' ', sentence(r))))))),
    h('section', { 'aria-labelledby': 'files-h' }, h('h2', { id: 'files-h' }, 'The files'),
      [['policy.csv', files.policy], ['model.conf', files.model], ['tests.csv', files.tests]].map(([name, text]) =>
        h('details', {}, h('summary', {}, name), h('pre', { class: 'json' }, text)))));
}

function explainForm(roles, actions) {
  const sub = h('input', { id: 'ex-sub', type: 'text', autocomplete: 'off', placeholder: 'e.g. alice' });
  const role = h('select', { id: 'ex-role' }, h('option', { value: '' }, '— no role —'), roles.map((r) => h('option', { value: r }, r)));
  const object = h('input', { id: 'ex-object', type: 'text', autocomplete: 'off', placeholder: 'catalog:template:lead-routing', 'aria-describedby': 'ex-object-hint' });
  const action = h('input', { id: 'ex-action', type: 'text', list: 'ex-actions', autocomplete: 'off', placeholder: 'instantiate' });
  const relation = h('select', { id: 'ex-rel' }, [['none', 'nobody (catalog, audit log…)'], ['own', 'the user'], ['team', 'a teammate'], ['other', 'someone else']]
    .map(([v, t]) => h('option', { value: v }, t)));
  const out = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'panel explain', 'aria-labelledby': 'explain-h' },
    h('h2', { id: 'explain-h' }, 'Explain a decision'),
    h('datalist', { id: 'ex-actions' }, actions.map((a) => h('option', { value: a }))),
    h('div', { class: 'explain-grid' },
      h('div', { class: 'field' }, h('label', { for: 'ex-sub' }, 'User'), sub),
      h('div', { class: 'field' }, h('label', { for: 'ex-role' }, 'Role'), role),
      h('div', { class: 'field' }, h('label', { for: 'ex-object' }, 'Object'), h('p', { class: 'hint', id: 'ex-object-hint' }, 'catalog:template:KEY, connection:KEY, workflow:KEY, data:personal:KEY, audit:log, flow:personal:ads…'), object),
      h('div', { class: 'field' }, h('label', { for: 'ex-action' }, 'Action'), action),
      h('div', { class: 'field' }, h('label', { for: 'ex-rel' }, 'Owned by'), relation)),
    h('button', { type: 'submit', class: 'primary' }, 'Explain'), out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!object.value.trim() || !action.value.trim() || (!sub.value.trim() && !role.value)) {
      replace(out, h('p', { class: 'field-error', role: 'alert' }, 'Name a user or a role, an object and an action.'));
      return;
    }
    replace(out, loading('Asking the policy'));
    try {
      const d = await gql(`query($o: String!, $a: String!, $s: String, $r: [String!], $rel: String) {
        explainDecision(object: $o, action: $a, sub: $s, roles: $r, relation: $rel) { allowed subjects rule rolesThatMay } }`,
      { o: object.value.trim(), a: action.value.trim(), s: sub.value.trim() || null, r: role.value ? [role.value] : [], rel: relation.value });
      const x = d.explainDecision;
      replace(out, h('div', { class: `decision ${x.allowed ? 'allowed' : 'denied'}` },
        h('p', {}, h('strong', {}, x.allowed ? 'Allowed.' : 'Denied.'), ` ${x.subjects.join(' + ')} → ${action.value.trim()} ${object.value.trim()}${relation.value === 'none' ? '' : ` (owned by ${relation.selectedOptions[0].textContent})`}`),
        h('p', {}, x.rule ? ['Decided by ', h('code', {}, x.rule)] : 'No rule matched: denied by default.'),
        x.allowed ? null : h('p', {}, x.rolesThatMay.length ? `Roles that may: ${x.rolesThatMay.join(', ')}.` : 'No role is granted this.')));
    } catch (err) {
      replace(out, errorBox(err, 'The policy could not be asked'));
    }
  });
  return form;
}
