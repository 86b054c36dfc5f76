// Talking to the server: GraphQL over POST /graphql with the session cookie and the CSRF header,
// and the sign-in endpoints under /ui/session.

/** A GraphQL or HTTP failure; `errors` are the GraphQL errors, `code` the first one's code. */
export class GqlError extends Error {
  constructor(errors, status) {
    super(errors.map((e) => e.message).join('; '));
    this.errors = errors;
    this.status = status;
    this.code = errors[0] && errors[0].extensions ? errors[0].extensions.code : undefined;
  }

  /** Errors keyed by `extensions.field` (e.g. `params.min_score`); others under ''. */
  byField() {
    const out = {};
    for (const e of this.errors) {
      const f = (e.extensions && e.extensions.field) || '';
      (out[f] = out[f] || []).push(e.message);
    }
    return out;
  }
}

function csrfToken() {
  const m = document.cookie.split(';').map((c) => c.trim()).find((c) => c.startsWith('sy_csrf='));
  return m ? decodeURIComponent(m.slice('sy_csrf='.length)) : '';
}

let onUnauthenticated = () => {};
/** Called when the server no longer accepts the session (expired token). */
export function setUnauthenticatedHandler(fn) {
  onUnauthenticated = fn;
}

/** Runs a GraphQL operation; resolves to `data`, rejects with a GqlError. */
export async function gql(query, variables = {}) {
  let resp;
  try {
    resp = await fetch('/graphql', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrfToken() },
      body: JSON.stringify({ query, variables }),
    });
  } catch (e) {
    throw new GqlError([{ message: `The server cannot be reached (${e.message}).`, extensions: { code: 'NETWORK' } }], 0);
  }
  const body = await resp.json().catch(() => null);
  if (!body) {
    throw new GqlError([{ message: `The server answered HTTP ${resp.status} without a GraphQL body.`, extensions: { code: 'INTERNAL' } }], resp.status);
  }
  if (body.errors && body.errors.length) {
    const err = new GqlError(body.errors, resp.status);
    if (err.code === 'UNAUTHENTICATED') onUnauthenticated(err);
    throw err;
  }
  return body.data;
}

/** The sign-in mode, demo users and current session. */
export async function session() {
  const resp = await fetch('/ui/session', { credentials: 'same-origin' });
  return resp.json();
}

/** Signs in with `{role}` (development) or `{token}`. */
export async function signIn(body) {
  const resp = await fetch('/ui/session', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new GqlError(data.errors || [{ message: `HTTP ${resp.status}` }], resp.status);
  return data;
}

export async function signOut() {
  await fetch('/ui/session', { method: 'DELETE', credentials: 'same-origin' });
}
