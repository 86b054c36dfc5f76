// Live updates: GraphQL subscriptions over the graphql-transport-ws protocol at /graphql/ws.
// One WebSocket per page, shared by its subscriptions. The browser's cookie session signs it in:
// the handshake carries the cookie and the page's Origin, and `connection_init` carries the
// CSRF cookie's value (which another site's page cannot read), as POST /graphql needs the
// x-csrf-token header. The socket reconnects with backoff and re-subscribes; `onStatus` tells
// the page whether it is live.

const PROTOCOL = 'graphql-transport-ws';

function csrfToken() {
  const m = document.cookie.split(';').map((c) => c.trim()).find((c) => c.startsWith('sy_csrf='));
  return m ? decodeURIComponent(m.slice('sy_csrf='.length)) : '';
}

let socket = null;
let acked = false;
let nextId = 1;
let retry = 0;
let retryTimer = null;
/** id → {query, variables, onNext, onError} */
const subs = new Map();
const statusListeners = new Set();

function setStatus(s) {
  for (const fn of statusListeners) fn(s);
}

function send(msg) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(msg));
}

function startSub(id, s) {
  send({ id, type: 'subscribe', payload: { query: s.query, variables: s.variables } });
}

function connect() {
  if (socket || !subs.size) return;
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql/ws`;
  const ws = new WebSocket(url, PROTOCOL);
  socket = ws;
  acked = false;
  setStatus('connecting');
  ws.addEventListener('open', () => {
    ws.send(JSON.stringify({ type: 'connection_init', payload: { csrf: csrfToken() } }));
  });
  ws.addEventListener('message', (ev) => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch (e) { return; }
    if (msg.type === 'connection_ack') {
      acked = true;
      retry = 0;
      setStatus('live');
      for (const [id, s] of subs) startSub(id, s);
    } else if (msg.type === 'ping') {
      send({ type: 'pong' });
    } else if (msg.type === 'next') {
      const s = subs.get(msg.id);
      if (!s) return;
      if (msg.payload && msg.payload.errors && msg.payload.errors.length) s.onError(msg.payload.errors);
      else if (msg.payload && msg.payload.data) s.onNext(msg.payload.data);
    } else if (msg.type === 'error') {
      const s = subs.get(msg.id);
      if (s) s.onError(Array.isArray(msg.payload) ? msg.payload : [{ message: String(msg.payload) }]);
    }
  });
  ws.addEventListener('close', (ev) => {
    if (socket !== ws) return;
    socket = null;
    acked = false;
    // A refused connection_init (1002, with the reason) or 44xx will not get better by retrying.
    if (ev.code === 1002 || (ev.code >= 4400 && ev.code < 4500)) {
      setStatus('refused');
      for (const s of subs.values()) s.onError([{ message: ev.reason || 'The server refused live updates.' }]);
      return;
    }
    if (!subs.size) { setStatus('off'); return; }
    setStatus('reconnecting');
    retry = Math.min(retry + 1, 6);
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, 500 * 2 ** retry);
  });
}

/** Notified with 'connecting', 'live', 'reconnecting', 'refused' or 'off'; returns a remover. */
export function onStatus(fn) {
  statusListeners.add(fn);
  return () => statusListeners.delete(fn);
}

/**
 * Subscribes to a GraphQL subscription; `onNext(data)` for each event, `onError(errors)` when
 * the server refuses it. Returns a function that ends the subscription (and the socket with the
 * last one).
 */
export function subscribe(query, variables, onNext, onError = () => {}) {
  const id = String(nextId);
  nextId += 1;
  const s = { query, variables, onNext, onError };
  subs.set(id, s);
  if (!socket) connect();
  else if (acked) startSub(id, s);
  return () => {
    if (!subs.delete(id)) return;
    send({ id, type: 'complete' });
    if (!subs.size && socket) {
      const ws = socket;
      socket = null;
      clearTimeout(retryTimer);
      ws.close(1000, 'done');
      setStatus('off');
    }
  };
}

/**
 * Ends `unsubscribe` once `el` has left the page (the user went elsewhere): the router
 * replaces a page's content, and nothing else tells a page module it is gone.
 */
export function whileShown(el, unsubscribe) {
  const timer = setInterval(() => {
    if (!el.isConnected) {
      clearInterval(timer);
      unsubscribe();
    }
  }, 1000);
}
