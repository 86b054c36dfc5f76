// Runs, deliveries and dead letters of a workflow, through whatever the server's schema offers:
// `runs(instance)`, `deliveries(run)`, `deadLetters(instance)` and `replayDeadLetters`. The
// queries are built from the introspected schema (argument names and types, plain lists or Relay
// connections, which fields exist), so the page works as these land and says "not available"
// before they do, instead of failing a GraphQL validation.

import { gql, schema, typeString, namedType, scalarFields } from './api.js';

const ID_ARGS = { instance: ['instance', 'instanceId', 'id'], run: ['run', 'runId', 'id'] };
const LIST_ARGS = ['ids', 'deliveries', 'deadLetters', 'deliveryIds'];

/** Scalar selection of a type; connections select their nodes. */
async function shape(type) {
  const named = namedType(type);
  if (['SCALAR', 'ENUM'].includes(named.kind)) return { select: '', unwrap: (x) => x };
  const d = await gql(`query($n: String!) { __type(name: $n) { fields { name type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }`, { n: named.name });
  const fields = (d.__type && d.__type.fields) || [];
  const edges = fields.find((f) => f.name === 'edges');
  if (edges) {
    const edgeType = namedType(edges.type).name;
    const e = await gql(`query($n: String!) { __type(name: $n) { fields { name type { kind name ofType { kind name ofType { kind name } } } } } }`, { n: edgeType });
    const node = e.__type.fields.find((f) => f.name === 'node');
    const nodeFields = await scalarFields(namedType(node.type).name);
    return { select: `{ edges { node { ${nodeFields.join(' ')} } } }`, unwrap: (x) => (x ? x.edges.map((ed) => ed.node) : []) };
  }
  const scalars = fields.filter((f) => ['SCALAR', 'ENUM'].includes(namedType(f.type).kind)).map((f) => f.name);
  return { select: `{ ${scalars.join(' ')} }`, unwrap: (x) => x };
}

function coerce(type, value) {
  const n = namedType(type).name;
  return n === 'Int' || n === 'Float' ? Number(value) : String(value);
}

/** Builds `query/mutation($a: T…) { field(a: $a…) selection }` and returns a caller. */
async function operation(kind, field, values) {
  const shaped = await shape(field.type);
  return async (given) => {
    const decl = [];
    const args = [];
    const vars = {};
    for (const a of field.args) {
      const v = values(a.name, given);
      if (v === undefined) {
        if (a.type.kind === 'NON_NULL') throw new Error(`${field.name}: do not know what to pass as \`${a.name}\``);
        continue;
      }
      decl.push(`$${a.name}: ${typeString(a.type)}`);
      args.push(`${a.name}: $${a.name}`);
      vars[a.name] = Array.isArray(v) ? v.map((x) => coerce(a.type, x)) : typeof v === 'number' || typeof v === 'string' ? coerce(a.type, v) : v;
    }
    const head = decl.length ? `(${decl.join(', ')})` : '';
    const call = args.length ? `(${args.join(', ')})` : '';
    const d = await gql(`${kind}${head} { r: ${field.name}${call} ${shaped.select} }`, vars);
    return shaped.unwrap(d.r);
  };
}

let cached = null;

/**
 * `{runs, deliveries, deadLetters, replay}`: each a function, or null when the server does not
 * offer it yet.
 */
export function execution() {
  if (!cached) cached = build().catch((e) => { cached = null; throw e; });
  return cached;
}

async function build() {
  const s = await schema();
  const pick = (names) => (name, given) => {
    if (names.includes(name)) return given.id;
    if (name === 'first') return 50;
    if (LIST_ARGS.includes(name)) return given.ids;
    return undefined;
  };
  // A replay names either the dead letters (`ids`) or the whole instance, not both.
  const pickReplay = (name, given) => {
    if (LIST_ARGS.includes(name)) return given.ids && given.ids.length ? given.ids : undefined;
    if (ID_ARGS.instance.includes(name)) return given.ids && given.ids.length ? undefined : given.id;
    return undefined;
  };
  const make = async (map, name, argNames, kind = 'query') => {
    if (!map.has(name)) return null;
    return operation(kind, map.get(name), kind === 'mutation' ? pickReplay : pick(argNames));
  };
  const [runs, deliveries, deadLetters, replay] = await Promise.all([
    make(s.query, 'runs', ID_ARGS.instance),
    make(s.query, 'deliveries', ID_ARGS.run),
    make(s.query, 'deadLetters', ID_ARGS.instance),
    make(s.mutation, 'replayDeadLetters', ID_ARGS.instance, 'mutation'),
  ]);
  return { runs, deliveries, deadLetters, replay };
}

const OK = ['succeeded', 'success', 'delivered', 'done', 'ok', 'completed'];
const BAD = ['failed', 'dead', 'error', 'refused'];

/** The error text of a delivery, whatever the server calls it. */
export function deliveryError(d) {
  const text = d.error || d.lastError;
  const code = d.responseCode || d.lastStatusCode;
  if (text && code) return `${text} (HTTP ${code})`;
  return text || (code ? `HTTP ${code}` : '');
}

/** Whether a run or delivery status means it worked, failed, or neither (yet). */
export function outcome(status) {
  const s = String(status || '').toLowerCase();
  if (OK.includes(s)) return 'ok';
  if (BAD.includes(s)) return 'bad';
  return 'other';
}

/** Health at a glance from runs (newest first or any order). */
export function health(runs) {
  const time = (r) => r.finishedAt || r.startedAt || r.createdAt || '';
  const sorted = [...runs].sort((a, b) => time(b).localeCompare(time(a)));
  const lastOk = sorted.find((r) => outcome(r.status) === 'ok');
  return {
    total: runs.length,
    failures: runs.filter((r) => outcome(r.status) === 'bad').length,
    lastSuccess: lastOk ? time(lastOk) : null,
    lastRun: sorted[0] ? time(sorted[0]) : null,
    recent: sorted.slice(0, 30).reverse(),
  };
}
