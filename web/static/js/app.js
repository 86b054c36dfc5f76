// The web UI's entry point: finds out who is signed in, draws the navigation for what the
// policy lets them do, and hands each URL to its page module (`pages/*.js`). Every page module
// exports `render(main, ctx)` and talks to the server only through GraphQL (`api.js`).

import { gql, session, setUnauthenticatedHandler, signOut } from './api.js';
import { h, link, replace, errorBox } from './dom.js';
import { navigate, onRoute, start, titled } from './router.js';

// Uncaught errors, console errors, files that failed to load and requests the content security
// policy blocked (anything not served by Switchyard itself) are kept where the browser tests can
// read them, and still shown in the console.
window.__syErrors = [];
window.addEventListener('error', (e) => window.__syErrors.push(String(e.message)));
window.addEventListener('error', (e) => {
  const t = e.target;
  if (t && t !== window && (t.src || t.href)) window.__syErrors.push(`failed to load ${t.src || t.href}`);
}, true);
window.addEventListener('unhandledrejection', (e) => window.__syErrors.push(String(e.reason && e.reason.message || e.reason)));
window.addEventListener('securitypolicyviolation', (e) => window.__syErrors.push(`blocked by the content security policy: ${e.blockedURI}`));
const consoleError = console.error.bind(console);
console.error = (...args) => {
  window.__syErrors.push(args.map(String).join(' '));
  consoleError(...args);
};

const ctx = {
  /** `{sub, roles, team, caps}` once signed in. */
  me: null,
  /** What `GET /ui/session` said: mode, demo users. */
  session: null,
  navigate,
  titled,
};

const ME = `{ me { sub roles team
  audit: can(object: "audit:log", action: "read")
  policy: can(object: "policy:files", action: "read")
  lifecycleTemplates: can(object: "catalog:template:any", action: "lifecycle")
  lifecycleContracts: can(object: "catalog:contract:any", action: "lifecycle") } }`;

async function loadMe() {
  const d = await gql(ME);
  const m = d.me;
  ctx.me = {
    sub: m.sub,
    roles: m.roles,
    team: m.team,
    caps: { audit: m.audit, policy: m.policy, platform: m.lifecycleTemplates || m.lifecycleContracts },
  };
}

function drawChrome(pathname) {
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  if (!ctx.me) {
    replace(nav);
    replace(who);
    return;
  }
  const items = [
    ['/catalog', 'Catalog', true],
    ['/workflows', 'My workflows', true],
    ['/alerts', 'Alerts', true],
    ['/contracts', 'Contracts', true],
    ['/compliance', 'Audit log', ctx.me.caps.audit],
    ['/compliance/policy', 'Policy', ctx.me.caps.policy],
    ['/platform', 'Platform', ctx.me.caps.platform],
  ];
  const current = (href) => pathname === href || (href !== '/compliance' && pathname.startsWith(`${href}/`))
    || (href === '/catalog' && /^\/(templates|connectors)\//.test(pathname));
  replace(nav, h('ul', {}, items.filter((i) => i[2]).map(([href, label]) =>
    h('li', {}, h('a', { href, 'data-link': true, 'aria-current': current(href) ? 'page' : null }, label)))));
  replace(who,
    h('span', {}, 'Signed in as ', h('strong', {}, ctx.me.sub), ` (${ctx.me.roles.join(', ') || 'no role'}${ctx.me.team ? `; team ${ctx.me.team}` : ''})`),
    h('button', { type: 'button', class: 'link-button', onclick: doSignOut }, 'Sign out'));
}

async function doSignOut() {
  await signOut();
  ctx.me = null;
  navigate('/signin');
}

async function draw(found, query, focus) {
  const main = document.getElementById('main');
  const pathname = location.pathname;
  if (!found) {
    drawChrome(pathname);
    replace(main, h('h1', {}, 'Page not found'), h('p', {}, 'There is no page at this address. ', link('/catalog', 'Go to the catalog'), '.'));
    titled('Page not found', focus);
    return;
  }
  const { route, params } = found;
  if (!route.public && !ctx.me) {
    const next = encodeURIComponent(pathname + location.search);
    navigate(`/signin?next=${next}`, { replace: true });
    return;
  }
  drawChrome(pathname);
  try {
    const mod = await import(`./pages/${route.page}.js`);
    await mod.render(main, { ...ctx, params, query, kind: route.kind, focus, reloadMe: loadMe, afterSignIn });
  } catch (e) {
    replace(main, h('h1', {}, 'This page could not be shown'), errorBox(e));
    titled('Error', focus);
  }
}

async function boot() {
  setUnauthenticatedHandler(() => {
    if (!ctx.me) return;
    ctx.me = null;
    navigate(`/signin?expired=1&next=${encodeURIComponent(location.pathname + location.search)}`);
  });
  try {
    ctx.session = await session();
    if (ctx.session.session) await loadMe();
  } catch (e) {
    ctx.me = null;
  }
  onRoute(draw);
  await start();
}

/** Signs the page in after `POST /ui/session` succeeded. */
async function afterSignIn(next) {
  ctx.session = await session();
  await loadMe();
  navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/catalog');
}

boot();
