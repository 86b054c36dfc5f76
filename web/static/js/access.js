// "Can I use this, and if not, who do I ask?": the policy's own explanation (`explainDecision`,
// the same answer as `switchyard policy explain`) of the signed-in user's access to one object.

import { gql } from './api.js';
import { h, replace, loading, errorBox } from './dom.js';

const VERBS = {
  read: 'see it',
  instantiate: 'turn it on (instantiate)',
  connect: 'configure connections to it',
  publish: 'publish new versions',
  lifecycle: 'deprecate or retire versions',
  approve: 'approve instances',
};

/** Asks the policy about each action on `object`; resolves to `{action: explanation}`. */
export async function explainAll(object, actions) {
  const fields = actions.map((a, i) => `a${i}: explainDecision(object: $o, action: "${a}") { allowed rule rolesThatMay subjects }`);
  const d = await gql(`query($o: String!) { ${fields.join('\n')} }`, { o: object });
  return Object.fromEntries(actions.map((a, i) => [a, d[`a${i}`]]));
}

/** A panel listing what the user may do with `object`, the deciding rule, and who to ask. */
export function accessPanel(object, actions) {
  const body = h('div', {}, loading('Asking the policy'));
  const panel = h('section', { class: 'panel access', 'aria-labelledby': 'access-h' },
    h('h2', { id: 'access-h' }, 'Your access'), body);
  explainAll(object, actions).then((res) => {
    replace(body, h('ul', { class: 'access-list' }, actions.map((a) => {
      const x = res[a];
      const verb = VERBS[a] || a;
      return h('li', { class: x.allowed ? 'allowed' : 'denied' },
        h('span', { class: 'mark', 'aria-hidden': 'true' }, x.allowed ? '✓' : '✕'),
        h('span', {}, h('strong', {}, x.allowed ? `You may ${verb}.` : `You may not ${verb}.`), ' ',
          x.rule ? h('span', { class: 'rule' }, 'Decided by ', h('code', {}, x.rule)) : h('span', { class: 'rule' }, 'No rule grants it, so it is denied by default.'),
          !x.allowed ? h('span', { class: 'ask' }, ' ', x.rolesThatMay.length
            ? `Ask someone with the role ${x.rolesThatMay.map((r) => r.replace(/_/g, ' ')).join(' or ')}.`
            : 'No role is granted this; ask the platform team to change the policy.') : null));
    })));
  }).catch((e) => replace(body, errorBox(e, 'The policy could not be asked')));
  return panel;
}
