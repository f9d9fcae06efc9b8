/**
 * The network drawn as the paper's Figure 2 draws it: one column per tower, every layer a box per tower
 * holding that tower's share of the output, and crossing arrows where towers exchange. Everything comes
 * from the layer table and the split plan (`planSplit`, `summarize`): a gather where a layer reads other
 * towers' shards (arrows only between the towers whose shards it reads), a reduce after a row-split dense
 * layer whose partial sums are added. Hand-made SVG: it is a diagram, not a chart.
 */
import { buildNet, type NetSpec, type Plan, planSplit } from '@alexnet/core';
import { type SummaryRow, summarize } from '../plan/summary.js';
import { esc } from './html.js';

const COL = 210; // a tower's column
const GAP = 110; // between columns, where the arrows cross
const ROW = 24;
const STEP = 8; // between rows that do not exchange
const CROSS = 46; // between rows that do
const TOP = 34;
const LEFT = 10;
const NOTE = 380; // the notes at the right

const STYLE: Record<string, { fill: string; stroke: string }> = {
  image: { fill: '#f9fafb', stroke: '#6b7280' },
  conv: { fill: '#dbeafe', stroke: '#3b82f6' },
  dense: { fill: '#ede9fe', stroke: '#8b5cf6' },
  lrn: { fill: '#dcfce7', stroke: '#22c55e' },
  maxpool: { fill: '#fef3c7', stroke: '#d97706' },
  other: { fill: '#f3f4f6', stroke: '#9ca3af' },
};

interface Gap {
  kind: 'gather' | 'reduce' | null;
  /** Arrows from tower `s` (row above) to tower `t` (row below), s ≠ t. */
  cross: [number, number][];
  note: string;
}

/** One tower's share of a layer's output, as the box shows it. */
function share(row: SummaryRow, t: number): { shape: string; title: string } {
  const [lo, hi] = row.towers[t]!;
  const shape = row.output_shape.slice();
  if (row.split === 'row') {
    const [rlo, rhi] = row.rows![t]!;
    return { shape: `${shape.join('×')} partial`, title: `${row.name}: partial sums over all ${shape.at(-1)} units from input rows ${rlo}–${rhi}` };
  }
  const full = shape.at(-1)!;
  shape[shape.length - 1] = hi - lo;
  const part = hi - lo === full ? 'all' : `${lo}–${hi} of ${full}`;
  return { shape: shape.join('×'), title: `${row.name} (${row.kind}, reads ${row.reads}): channels ${part}` };
}

/**
 * The gap above each layer (index i: between row i-1, or the image for i = 0, and row i): the plan's
 * exchange there, an arrow for every pair of towers one of its forward transfers joins; and the gap
 * between the last layer and the coordinator.
 */
function gapsOf(plan: Plan, rows: readonly SummaryRow[], towers: number): { gaps: Gap[]; tail: Gap } {
  const gaps: Gap[] = rows.map((row, i): Gap => {
    const ex = plan.layers[i]!.exchange;
    if (!ex) return { kind: null, cross: [], note: '' };
    const cross = [...new Set(ex.forward.map((x) => `${x.from},${x.to}`))].map((k) => k.split(',').map(Number) as [number, number]);
    if (ex.kind === 'reduce') return { kind: 'reduce', cross, note: `reduce ⇄ ${rows[i - 1]!.name}'s partial sums added (row split)` };
    const reads = row.reads === 'all' ? 'reads all towers' : 'reads across towers (a group spans two)';
    return { kind: 'gather', cross, note: `gather ⇄ ${row.name} ${reads}` };
  });
  const last = rows.at(-1)!;
  const tail: Gap =
    plan.layers.at(-1)!.output === 'partial'
      ? { kind: 'reduce', cross: [], note: `reduce ⇄ ${last.name}'s partial logits summed at the coordinator` }
      : { kind: towers > 1 ? 'gather' : null, cross: [], note: towers > 1 ? 'logits ⇄ coordinator' : '' };
  return { gaps, tail };
}

const SVG_DEFS =
  '<defs>' +
  '<marker id="cross" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#dc2626"/></marker>' +
  '<marker id="own" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#9ca3af"/></marker>' +
  '</defs>';
const SVG_CSS =
  '<style>text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:12px;fill:#111827}' +
  '.tower{font-weight:600;font-size:13px}.shape{fill:#374151;font-variant-numeric:tabular-nums}.note{fill:#b91c1c;font-size:12px}</style>';

export function networkSvg(spec: NetSpec, towers: number): string {
  const net = buildNet(spec);
  const plan = planSplit(net, towers);
  const summary = summarize(plan);
  const rows = summary.layers;
  const { gaps, tail } = gapsOf(plan, rows, towers);

  const x = (t: number): number => LEFT + t * (COL + GAP);
  const width = x(towers - 1) + COL + 24 + NOTE;
  const out: string[] = [];
  let y = TOP;
  for (let t = 0; t < towers; t++) {
    out.push(`<text class="tower" x="${x(t) + COL / 2}" y="${TOP - 14}" text-anchor="middle">tower ${t}</text>`);
  }
  const box = (t: number, top: number, name: string, shape: string, title: string, kind: string, exchange: boolean): void => {
    const s = STYLE[kind] ?? STYLE.other!;
    out.push(
      `<g class="box${exchange ? ' exchange' : ''}" data-layer="${esc(name)}" data-tower="${t}"><title>${esc(title)}</title>` +
        `<rect x="${x(t)}" y="${top}" width="${COL}" height="${ROW}" rx="4" fill="${s.fill}" stroke="${exchange ? '#dc2626' : s.stroke}" stroke-width="${exchange ? 2 : 1}"/>` +
        `<text x="${x(t) + 8}" y="${top + 16}" class="name">${esc(name)}</text>` +
        `<text x="${x(t) + COL - 8}" y="${top + 16}" class="shape" text-anchor="end">${esc(shape)}</text></g>`,
    );
  };
  const gap = (g: Gap, top: number, height: number, ownArrows: boolean): void => {
    const bottom = top + height;
    for (let t = 0; t < towers; t++) {
      const cx = x(t) + COL / 2;
      out.push(`<line class="own" x1="${cx}" y1="${top}" x2="${cx}" y2="${bottom - 1}" stroke="#9ca3af" stroke-width="1.2"${ownArrows ? ' marker-end="url(#own)"' : ''}/>`);
    }
    for (const [s, t] of g.cross) {
      out.push(
        `<line class="cross ${g.kind}" x1="${x(s) + COL / 2}" y1="${top + 2}" x2="${x(t) + COL / 2}" y2="${bottom - 2}" stroke="#dc2626" stroke-width="1.6" marker-end="url(#cross)"/>`,
      );
    }
    if (g.note) out.push(`<text class="note" x="${x(towers - 1) + COL + 24}" y="${top + height / 2 + 4}">${esc(g.note)}</text>`);
  };

  // The image: every tower gets all of it.
  const image = net.inputShape.join('×');
  for (let t = 0; t < towers; t++) box(t, y, 'image', image, `the input image, ${image}: every tower gets all of it`, 'image', false);
  y += ROW;
  rows.forEach((row, i) => {
    const g = gaps[i]!;
    const h = g.kind ? CROSS : STEP;
    gap(g, y, h, g.kind !== null);
    y += h;
    for (let t = 0; t < towers; t++) {
      const { shape, title } = share(row, t);
      box(t, y, row.name, shape, title, row.kind, row.exchange);
    }
    y += ROW;
  });
  // The coordinator: softmax cross-entropy over the logits of all towers.
  gap(tail, y, CROSS, true);
  y += CROSS;
  out.push(
    `<g class="coordinator"><rect x="${LEFT}" y="${y}" width="${x(towers - 1) + COL - LEFT}" height="${ROW + 4}" rx="4" fill="#fff7ed" stroke="#ea580c"/>` +
      `<text x="${(LEFT + x(towers - 1) + COL) / 2}" y="${y + 18}" text-anchor="middle" class="name">coordinator: softmax cross-entropy, accuracy (${net.classes} classes)</text></g>`,
  );
  y += ROW + 4 + 10;

  return (
    `<svg id="network" class="network" role="img" aria-label="${esc(`${summary.name} on ${towers} tower${towers > 1 ? 's' : ''}`)}" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}">` +
    `${SVG_CSS}${SVG_DEFS}${out.join('')}</svg>`
  );
}
