/**
 * `coordinator summary`: the net as Keras' model.summary() prints it, plus what the split adds: which
 * towers hold each layer (and how much of it), which layers read all towers, and where towers exchange.
 */
import { type Plan, paramCount, totalFlops, totalParams } from '@alexnet/core';
import { exchangeValues } from './bytes.js';

export interface SummaryRow {
  name: string;
  kind: string;
  output_shape: number[];
  params: number;
  flops: number;
  reads: 'own' | 'all' | 'image' | '-';
  /** Per tower: [lo, hi) of the output channels/units it computes (a row-split layer: all, as partial sums). */
  towers: [number, number][];
  /** Dense layers: column- or row-split (see plan.ts); null for other kinds. */
  split: 'column' | 'row' | null;
  /** Row-split layers: per tower, [lo, hi) of the input units (rows of W) it holds. */
  rows: [number, number][] | null;
  exchange: boolean;
  /** `gather`: the layer reads other towers' shards; `reduce`: it reads the sum of the towers' partials (after a row-split layer). */
  exchange_kind: 'gather' | 'reduce' | null;
  /** Bytes per image this layer's exchange moves between towers, forward and backward. */
  exchange_bytes: number;
}

export interface Summary {
  name: string;
  towers: number;
  groups: number;
  input_shape: number[];
  layers: SummaryRow[];
  total_params: number;
  total_flops: number;
  exchange_points: string[];
  /** Per image, forward and backward, all exchange points and the logits (towers render their own images). */
  exchange_bytes: number;
}

/**
 * Exchange bytes per image at each layer with an exchange (tower to tower, forward and backward); the last
 * layer also carries the logits up to the coordinator and their gradient back (every tower's share).
 */
function bytesAtRows(plan: Plan): number[] {
  const out = exchangeValues(plan).map((v) => v * 4);
  const last = plan.layers.length - 1;
  if (plan.towers > 1) out[last]! += 2 * plan.net.classes * (plan.layers[last]!.output === 'partial' ? plan.towers : 1) * 4;
  return out;
}

export function summarize(plan: Plan): Summary {
  const bytes = bytesAtRows(plan);
  const layers = plan.layers.map((p, i): SummaryRow => {
    const spec = p.layer.spec as { reads?: 'own' | 'all' };
    return {
      name: p.layer.name,
      kind: p.layer.spec.kind,
      output_shape: p.layer.outShape.slice(),
      params: paramCount(p.layer),
      flops: p.layer.flops,
      reads: p.inputReplicated && p.layer.index === 0 ? 'image' : (spec.reads ?? '-'),
      towers: p.towers.map((s) => [s.out.lo, s.out.hi]),
      split: p.layer.spec.kind === 'dense' ? p.split : null,
      rows: p.split === 'row' ? p.towers.map((t) => [t.in.lo, t.in.hi]) : null,
      // The plan's exchange, at the layer whose input it makes: a gather where a tower reads other towers'
      // shards, a reduce where it reads the sum of a row-split layer's partials.
      exchange: p.exchange !== undefined,
      exchange_kind: p.exchange?.kind ?? null,
      exchange_bytes: bytes[i]!,
    };
  });
  return {
    name: plan.net.spec.name,
    towers: plan.towers,
    groups: plan.net.spec.groups,
    input_shape: plan.net.inputShape.slice(),
    layers,
    total_params: totalParams(plan.net),
    total_flops: totalFlops(plan.net),
    exchange_points: layers.filter((l) => l.exchange).map((l) => l.name),
    exchange_bytes: bytes.reduce((a, b) => a + b, 0),
  };
}

const fmt = (n: number): string => n.toLocaleString('en-US');
/** 1.2G, 345.6M, 12.3K */
const short = (n: number): string => (n >= 1e9 ? `${(n / 1e9).toFixed(2)}G` : n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}K` : String(n));
const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`;

export function formatSummary(s: Summary): string {
  const head = ['Layer (kind)', 'Output shape', 'Param #', 'FLOPs', 'Reads', 'Split', 'Towers', 'Exchange', 'Bytes/image'];
  const rows = s.layers.map((l) => {
    const widths = new Set((l.rows ?? l.towers).map(([lo, hi]) => hi - lo));
    const towers = l.towers.length === 1 ? 'all on 1' : `${l.towers.length} × ${[...widths].join('/')}${l.rows ? ' rows' : ''}`;
    const split = l.split === 'row' ? 'row (partial sums)' : (l.split ?? '');
    return [
      `${l.name} (${l.kind})`,
      `(None, ${l.output_shape.join(', ')})`,
      fmt(l.params),
      short(l.flops),
      l.reads,
      split,
      towers,
      l.exchange_kind ? `${l.exchange_kind} ⇄` : '',
      l.exchange_bytes ? kib(l.exchange_bytes) : '',
    ];
  });
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(width[i]!))
      .join('  ')
      .trimEnd();
  const rule = '─'.repeat(width.reduce((a, b) => a + b + 2, -2));
  return [
    `Model: "${s.name}"  (${s.towers} tower${s.towers > 1 ? 's' : ''}, net.groups ${s.groups}, input ${s.input_shape.join('×')})`,
    rule,
    line(head),
    '═'.repeat(rule.length),
    ...rows.map(line),
    rule,
    `Total params: ${fmt(s.total_params)} (${((s.total_params * 4) / 2 ** 20).toFixed(2)} MB float32)`,
    `Forward FLOPs per image: ${fmt(s.total_flops)}`,
    `Exchange points: ${s.exchange_points.length ? `${s.exchange_points.join(', ')}; ${kib(s.exchange_bytes)} per image moved between processes (towers, and the logits to the coordinator), forward and backward` : 'none (one tower)'}`,
    ...(s.layers.some((l) => l.split === 'row')
      ? [
          'Dense splits (chosen per layer, fewer bytes moved): column = each tower computes some units from the gathered input;',
          '  row = each tower multiplies its own input shard by its rows of W, and the partial sums are added',
        ]
      : []),
    rule,
  ].join('\n');
}
