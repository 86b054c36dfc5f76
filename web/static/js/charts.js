// Small inline SVG pictures for delivery health: a run sparkline (one bar per run, coloured by
// outcome, taller when slower) and a stacked bar of delivery outcomes. Each has a text
// alternative, so the numbers are there for screen readers too.

import { svg } from './dom.js';
import { outcome } from './execution.js';

/** One bar per run, oldest left; height by latency when known. */
export function runSparkline(runs, { width = 160, height = 28 } = {}) {
  const n = Math.max(runs.length, 1);
  const gap = 2;
  const bw = Math.max(2, (width - gap * (n - 1)) / n);
  const lat = runs.map((r) => Number(r.latencyMs) || 0);
  const max = Math.max(...lat, 1);
  const ok = runs.filter((r) => outcome(r.status) === 'ok').length;
  const bad = runs.filter((r) => outcome(r.status) === 'bad').length;
  const label = runs.length
    ? `Last ${runs.length} runs: ${ok} succeeded, ${bad} failed, ${runs.length - ok - bad} other`
    : 'No runs yet';
  const root = svg('svg', { class: 'spark', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label },
    svg('title', {}, label));
  if (!runs.length) {
    root.append(svg('line', { x1: 0, y1: height - 1, x2: width, y2: height - 1, class: 'spark-empty' }));
    return root;
  }
  runs.forEach((r, i) => {
    const hgt = max > 1 && lat[i] ? Math.max(6, (lat[i] / max) * (height - 2)) : height * 0.6;
    root.append(svg('rect', {
      x: (i * (bw + gap)).toFixed(1), y: (height - hgt).toFixed(1), width: bw.toFixed(1), height: hgt.toFixed(1), rx: 1,
      class: `bar-${outcome(r.status)}`,
    }, svg('title', {}, `${r.status}${r.latencyMs ? `, ${r.latencyMs} ms` : ''}`)));
  });
  return root;
}

/** A stacked horizontal bar of counts: [{label, count, cls}]. */
export function stackedBar(parts, { width = 240, height = 14 } = {}) {
  const total = parts.reduce((s, p) => s + p.count, 0);
  const label = total ? parts.map((p) => `${p.count} ${p.label}`).join(', ') : 'nothing yet';
  const root = svg('svg', { class: 'stacked', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label },
    svg('title', {}, label));
  let x = 0;
  for (const p of parts) {
    if (!p.count) continue;
    const w = (p.count / total) * width;
    root.append(svg('rect', { x: x.toFixed(1), y: 0, width: w.toFixed(1), height, class: p.cls }));
    x += w;
  }
  if (!total) root.append(svg('rect', { x: 0, y: 0, width, height, class: 'bar-none' }));
  return root;
}
