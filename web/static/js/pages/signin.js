// Sign-in: in development mode one seeded demo user per policy role; otherwise (and always, as
// an alternative) paste a token from the identity provider or `switchyard token`. The server
// keeps the token in an HttpOnly cookie; this page never stores it.

import { signIn } from '../api.js';
import { h, errorBox, replace } from '../dom.js';

export async function render(main, ctx) {
  const next = ctx.query.get('next') || '/catalog';
  const status = h('div', { class: 'signin-status', 'aria-live': 'polite' });
  const go = async (body, button) => {
    replace(status);
    if (button) button.disabled = true;
    try {
      await signIn(body);
      await ctx.afterSignIn(next);
    } catch (e) {
      replace(status, errorBox(e, 'Sign-in failed'));
      if (button) button.disabled = false;
    }
  };

  const dev = ctx.session && ctx.session.mode === 'development';
  const users = dev ? ctx.session.demoUsers : [];
  const demo = dev ? h('section', { class: 'panel', 'aria-labelledby': 'demo-h' },
    h('h2', { id: 'demo-h' }, 'Demo users'),
    h('p', { class: 'hint' }, 'Development mode: the server signs its own tokens. Pick a person to see the catalog as their role does.'),
    h('ul', { class: 'demo-users' }, users.map((u) => {
      const b = h('button', { type: 'button', class: 'demo-user', 'data-role': u.role },
        h('strong', {}, u.sub), h('span', { class: 'role' }, u.role.replace(/_/g, ' ')), h('span', { class: 'does' }, u.team ? `${u.description} (team ${u.team})` : u.description));
      b.addEventListener('click', () => go({ role: u.role }, b));
      return h('li', {}, b);
    }))) : null;

  const token = h('textarea', { id: 'token', name: 'token', rows: 4, required: true, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'token-hint' });
  const submit = h('button', { type: 'submit' }, 'Sign in with token');
  const form = h('form', { class: 'panel', 'aria-labelledby': 'token-h' },
    h('h2', { id: 'token-h' }, dev ? 'Or paste a token' : 'Paste a token'),
    h('div', { class: 'field' },
      h('label', { for: 'token' }, 'JSON Web Token'),
      h('p', { class: 'hint', id: 'token-hint' }, 'From your identity provider, or ', h('code', {}, 'switchyard token --sub you --role marketer'), '.'),
      token),
    submit);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    go({ token: token.value.trim() }, submit);
  });

  replace(main,
    h('h1', {}, 'Sign in to Switchyard'),
    h('p', { class: 'lead' }, 'The governed catalog of connectors, workflow templates and data contracts.'),
    ctx.query.get('expired') ? h('p', { class: 'notice', role: 'status' }, 'Your session ended. Please sign in again.') : null,
    status,
    h('div', { class: 'signin' }, demo, form));
  ctx.titled('Sign in', ctx.focus);
}
