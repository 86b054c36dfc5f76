// Deprecation notices (`publishDeprecationNotice`, `deprecationNotices`): the banner a detail
// page, the wizard and a workflow page show for a version that is going away — its sunset date in
// words, the replacement (a link when it names a catalog item) and the migration notes — and the
// small helpers the platform page and My workflows share.

import { gql } from './api.js';
import { h, link, replace, lifecycleBadge } from './dom.js';

/** The fields of a notice every page asks for. */
export const NOTICE = `kind key version announcedAt sunsetAt sunsetPassed replacement notes createdBy
  affectedInstances { id name template templateVersion owner status }`;

/** Where each kind's pages live, and what it is called. */
export const KIND_INFO = {
  TEMPLATE: { path: '/templates/', noun: 'workflow template', field: 'template', arg: 'key' },
  CONNECTOR: { path: '/connectors/', noun: 'connector', field: 'connector', arg: 'key' },
  CONTRACT: { path: '/contracts/', noun: 'data contract', field: 'contract', arg: 'name' },
};

/** Notices, newest first; `kind` and `key` narrow them. */
export async function notices(kind, key) {
  const d = await gql(`query($k: Kind, $key: String) { deprecationNotices(kind: $k, key: $key) { ${NOTICE} } }`,
    { k: kind || null, key: key || null });
  return d.deprecationNotices;
}

/** The element id of a notice's banner (for links to it). */
export function noticeId(n) {
  return `dep-${n.kind}-${n.key}-${n.version}`.replace(/[^A-Za-z0-9_-]/g, '-');
}

/** Whether new workflows can no longer be created from the version (by the server's word or the clock). */
export function sunsetPassed(notice) {
  return Boolean(notice && (notice.sunsetPassed || Date.parse(notice.sunsetAt) <= Date.now()));
}

/** Whether a new workflow may be created from template version `v` (not retired, not past its sunset). */
export function canInstantiate(v, notices) {
  if (!v || !['PUBLISHED', 'DEPRECATED'].includes(v.lifecycle)) return false;
  return !sunsetPassed((notices || []).find((n) => n.version === v.version));
}

const DATE = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'long', year: 'numeric' });
const DATE_TIME = new Intl.DateTimeFormat(undefined, {
  day: 'numeric', month: 'long', year: 'numeric', hour: '2-digit', minute: '2-digit', timeZoneName: 'short',
});

/** "in 5 days", "tomorrow", "3 days ago". */
export function relative(iso) {
  const ms = Date.parse(iso) - Date.now();
  if (Number.isNaN(ms)) return '';
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  if (Math.abs(ms) < 3600000) return rtf.format(Math.round(ms / 60000), 'minute');
  if (Math.abs(ms) < 86400000) return rtf.format(Math.round(ms / 3600000), 'hour');
  return rtf.format(Math.round(ms / 86400000), 'day');
}

/** A date in words, e.g. "31 December 2026"; with `time`, "31 December 2026 at 09:00 UTC". */
export function dateText(iso, { time = false } = {}) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso || '');
  return (time ? DATE_TIME : DATE).format(d);
}

/** A <time> element with the date in words and the exact time as a tooltip. */
export function sunsetTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return h('span', {}, iso);
  return h('time', { datetime: d.toISOString(), title: d.toISOString() }, dateText(iso, { time: true }));
}

const lookups = new Map();

/** The catalog item a replacement text names (`lead-capture 2.0.0`), or null. */
export function resolveReplacement(text, preferKind) {
  const m = /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\s+(?:v(?:ersion)?\s*)?(\d+\.\d+\.\d+\S*))?\s*$/.exec(text || '');
  if (!m) return Promise.resolve(null);
  const [, key, version] = m;
  if (!lookups.has(key)) {
    const sel = '{ key name latestVersion versions { version lifecycle } }';
    lookups.set(key, gql(`query($k: String!) { template(key: $k) ${sel} connector(key: $k) ${sel} contract(name: $k) ${sel} }`, { k: key })
      .catch(() => ({})));
  }
  return lookups.get(key).then((d) => {
    const order = ['TEMPLATE', 'CONNECTOR', 'CONTRACT'].sort((a, b) => (b === preferKind) - (a === preferKind));
    for (const kind of order) {
      const item = d[KIND_INFO[kind].field];
      if (item) {
        return { kind, item, version: version || null, found: version ? item.versions.find((v) => v.version === version) || null : null };
      }
    }
    return null;
  });
}

/**
 * What to use instead, as a node: a link to the catalog item when the text names one (with the
 * version's lifecycle, or "not published yet"), the plain text otherwise.
 */
export function replacementNode(notice) {
  const text = notice.replacement;
  if (!text) return h('span', {}, 'No replacement is named; ask the owner team.');
  const box = h('span', { class: 'replacement' }, text);
  resolveReplacement(text, notice.kind).then((r) => {
    if (!r) return;
    const sameItem = r.kind === notice.kind && r.item.key === notice.key;
    const label = `${r.item.name}${r.version ? ` ${r.version}` : ''}`;
    const usable = r.found && ['PUBLISHED', 'DEPRECATED'].includes(r.found.lifecycle);
    const target = sameItem
      ? (r.kind === 'TEMPLATE' && usable ? `/templates/${encodeURIComponent(r.item.key)}/instantiate?version=${encodeURIComponent(r.version)}` : null)
      : `${KIND_INFO[r.kind].path}${encodeURIComponent(r.item.key)}`;
    replace(box,
      target ? link(target, label) : h('strong', {}, label),
      r.found ? [' ', lifecycleBadge(r.found.lifecycle)] : null,
      r.version && !r.found ? h('span', { class: 'muted' }, ' (that version is not in the catalog yet)') : null,
      sameItem && target ? h('span', { class: 'muted' }, ' — set up a workflow with it') : null);
  });
  return box;
}

/**
 * The banner for one notice. `lifecycle` is the version's current lifecycle when known;
 * `intro` (optional) says why it matters here ("This workflow uses …").
 */
export function noticeBanner(notice, { lifecycle, intro } = {}) {
  const passed = sunsetPassed(notice);
  const retired = lifecycle === 'RETIRED';
  const isTemplate = notice.kind === 'TEMPLATE';
  const id = noticeId(notice);
  const rel = relative(notice.sunsetAt);
  let consequence;
  if (retired) {
    consequence = `Version ${notice.version} is retired: it can no longer be used for new workflows.`;
  } else if (passed) {
    consequence = isTemplate
      ? `The sunset has passed: new workflows can no longer be created from version ${notice.version}. Existing workflows keep running until they are moved or retired.`
      : `The sunset has passed: version ${notice.version} must not be used for anything new; move the workflows that use it.`;
  } else {
    consequence = isTemplate
      ? 'Existing workflows keep running. Until the sunset new workflows can still be created from it; after it, they cannot.'
      : 'Existing workflows keep running; plan to move them before the sunset.';
  }
  return h('section', { class: `banner deprecated${passed || retired ? ' sunset' : ''}`, id, 'aria-labelledby': `${id}-h` },
    h('h2', { id: `${id}-h`, class: 'banner-title' },
      intro ? h('span', { class: 'banner-intro' }, intro, ' ') : null,
      `Version ${notice.version} is ${retired ? 'retired' : 'deprecated'}`),
    h('dl', { class: 'facts banner-facts' },
      h('dt', {}, passed ? 'Sunset was' : 'Sunset'),
      h('dd', { class: 'sunset' }, sunsetTime(notice.sunsetAt), rel ? h('span', { class: 'muted' }, ` (${rel})`) : null),
      h('dt', {}, 'Use instead'),
      h('dd', {}, replacementNode(notice))),
    h('p', { class: passed || retired ? 'consequence strong' : 'consequence' }, consequence),
    h('div', { class: 'migration' },
      h('h3', {}, 'How to move'),
      String(notice.notes || '').split(/\n\s*\n/).map((p) => h('p', {}, p.trim()))),
    h('p', { class: 'hint' }, `Announced by ${notice.createdBy} on ${dateText(notice.announcedAt)}.`));
}
