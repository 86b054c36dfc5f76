// Client-side routing with the History API: every page has a real URL (`/catalog`,
// `/templates/lead-capture`), the server answers each with index.html, and this module picks the
// page module, sets the title and moves focus to the new page's heading for screen readers.

const routes = [
  { path: '/signin', page: 'signin', public: true },
  { path: '/', redirect: '/catalog' },
  { path: '/catalog', page: 'catalog' },
  { path: '/connectors/:key', page: 'detail', kind: 'connector' },
  { path: '/templates/:key', page: 'detail', kind: 'template' },
  { path: '/templates/:key/instantiate', page: 'instantiate' },
  { path: '/contracts', page: 'contracts' },
  { path: '/contracts/:key', page: 'detail', kind: 'contract' },
  { path: '/contracts/:key/check', page: 'contract_check' },
  { path: '/workflows', page: 'workflows' },
  { path: '/workflows/:id', page: 'workflow' },
  { path: '/alerts', page: 'alerts' },
  { path: '/compliance', page: 'compliance' },
  { path: '/compliance/policy', page: 'policy' },
  { path: '/platform', page: 'platform' },
];

function match(pathname) {
  const parts = pathname.replace(/\/+$/, '').split('/').filter(Boolean);
  for (const r of routes) {
    const want = r.path.split('/').filter(Boolean);
    if (want.length !== parts.length) continue;
    const params = {};
    const ok = want.every((w, i) => {
      if (w.startsWith(':')) { params[w.slice(1)] = decodeURIComponent(parts[i]); return true; }
      return w === parts[i];
    });
    if (ok) return { route: r, params };
  }
  return null;
}

let renderPage = async () => {};
let navigations = 0;
/** Path and query of the page drawn; a change of only the #fragment (the skip link) keeps it. */
let shown = '';

/** Sets the function that draws a matched route. */
export function onRoute(fn) {
  renderPage = fn;
}

/** Goes to `url` (path and query) inside the app. */
export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  return render();
}

/** Updates the query string without drawing the page again (filters, search). */
export function setQuery(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const s = q.toString();
  history.replaceState(null, '', location.pathname + (s ? `?${s}` : ''));
  shown = location.pathname + location.search;
}

/** Draws the page for the current URL. */
export async function render() {
  navigations += 1;
  shown = location.pathname + location.search;
  const found = match(location.pathname);
  if (found && found.route.redirect) return navigate(found.route.redirect, { replace: true });
  await renderPage(found, new URLSearchParams(location.search), navigations > 1);
  // A link to a part of a page (`/templates/x#dep-…`) scrolls there once the page is drawn.
  const target = location.hash.length > 1 ? document.getElementById(decodeURIComponent(location.hash.slice(1))) : null;
  if (target) target.scrollIntoView();
  return undefined;
}

/** Sets the document title and, after a navigation, focuses the page heading. */
export function titled(title, focus) {
  document.title = `${title} · Switchyard`;
  if (!focus) return;
  const h1 = document.querySelector('main h1');
  if (h1) {
    h1.setAttribute('tabindex', '-1');
    h1.focus({ preventScroll: false });
  }
}

/** Handles clicks on internal links and the back button. */
export function start() {
  document.addEventListener('click', (e) => {
    const a = e.target.closest && e.target.closest('a[data-link]');
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin) return;
    e.preventDefault();
    navigate(url.pathname + url.search + url.hash);
  });
  window.addEventListener('popstate', () => {
    if (location.pathname + location.search !== shown) render();
  });
  return render();
}
