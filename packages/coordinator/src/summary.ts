/**
 * `coordinator summary`: the net as Keras' model.summary() prints it, plus what the split adds: which
 * towers hold each layer (and how much of it), which layers read all towers, and where towers exchange.
 */
import { type Plan, paramCount, totalFlops, totalParams } from '@alexnet/core';

export interface SummaryRow {
  name: string;
  kind: string;
  output_shape: number[];
  params: number;
  flops: number;
  reads: 'own' | 'all' | 'image' | '-';
  /** Per tower: [lo, hi) of the output channels/units it computes. */
  towers: [number, number][];
  exchange: boolean;
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
}

export function summarize(plan: Plan): Summary {
  const layers = plan.layers.map((p): SummaryRow => {
    const spec = p.layer.spec as { reads?: 'own' | 'all' };
    return {
      name: p.layer.name,
      kind: p.layer.spec.kind,
      output_shape: p.layer.outShape.slice(),
      params: paramCount(p.layer),
      flops: p.layer.flops,
      reads: p.inputReplicated && p.layer.index === 0 ? 'image' : (spec.reads ?? '-'),
      towers: p.towers.map((s) => [s.out.lo, s.out.hi]),
      exchange: p.exchange,
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
  };
}

const fmt = (n: number): string => n.toLocaleString('en-US');

export function formatSummary(s: Summary): string {
  const head = ['Layer (kind)', 'Output shape', 'Param #', 'Reads', 'Towers', 'Exchange'];
  const rows = s.layers.map((l) => {
    const widths = new Set(l.towers.map(([lo, hi]) => hi - lo));
    const towers = l.params === 0 && l.towers.length > 1 ? `${l.towers.length} × ${[...widths].join('/')}` : l.towers.length === 1 ? 'all on 1' : `${l.towers.length} × ${[...widths].join('/')}`;
    return [`${l.name} (${l.kind})`, `(None, ${l.output_shape.join(', ')})`, fmt(l.params), l.reads, towers, l.exchange ? 'gather ⇄' : ''];
  });
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(width[i]!)).join('  ').trimEnd();
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
    `Exchange points: ${s.exchange_points.length ? s.exchange_points.join(', ') : 'none (one tower)'}`,
    rule,
  ].join('\n');
}
