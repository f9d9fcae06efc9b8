/**
 * The split plan, derived from the layer table and the tower count (never hard-coded in the runtime).
 *
 * Every activation is either replicated (the image: every tower is sent all of it) or sharded along its
 * last axis: tower t of N holds channels/units [t·C/N, (t+1)·C/N). For each layer and tower the plan gives
 * the output range the tower computes and the input range it must read. Where a tower must read outside
 * what it holds, the layer is an exchange point, and the plan names its exchange (exchange.ts): which
 * columns each tower sends each other tower in forward, and their gradients in backward.
 *
 * With N = net.groups and column-split dense layers this yields exactly the paper's exchanges (conv3, fc6,
 * fc7, fc8). With N = 1 there is none. With N > groups (e.g. the paper net on 4 towers) a group spans two
 * towers, and the plan adds the exchanges that needs (conv2, LRN halos, ...), so every tower count computes
 * the same function.
 *
 * Dense layers that read all towers are split one of two ways (Megatron-LM's names):
 *   column: tower t computes units [lo, hi) from the whole input. Moves the input width: the input is
 *           gathered in forward, the input gradients summed in backward.
 *   row:    tower t multiplies its own input shard by its rows of W and emits a *partial* sum over the full
 *           output width; the next layer's input is the sum of the towers' partials (reduced in forward,
 *           gathered in backward). Moves the output width.
 * `auto` picks row when the layer has fewer units than inputs (AlexNet's fc6 9216→4096 and fc8 4096→1000),
 * else column. An activation is therefore replicated (the image), sharded, or partial (after a row layer).
 */
import { ConfigError } from './errors.js';
import { type Exchange, planExchange } from './exchange.js';
import type { Layer, Net } from './net.js';
import { product, type Range, rangeContains, rangeIntersect, shardRange } from './shapes.js';

export interface TowerSlice {
  /** The part of the layer's output this tower computes (last axis). */
  readonly out: Range;
  /** The part of the layer's input it reads (last axis). */
  readonly in: Range;
  /** How many whole groups `out` spans (1 when it lies inside one group). */
  readonly localGroups: number;
}

/** How an activation is spread over the towers (last axis). */
export type Spread = 'replicated' | 'sharded' | 'partial';

export interface PlannedLayer {
  readonly layer: Layer;
  readonly towers: readonly TowerSlice[];
  /** Some tower reads outside what it holds, or the input is partial: the towers exchange here (see exchange.ts). */
  readonly exchange: Exchange | undefined;
  readonly input: Spread;
  readonly output: Spread;
  /** Dense layers: how the layer is split (see the file comment); column for everything else. */
  readonly split: 'column' | 'row';
  readonly inputReplicated: boolean;
  readonly outputReplicated: boolean;
}

/** A run of layers a tower computes without talking to anyone; the first one (k > 0) is an exchange point. */
export interface Segment {
  readonly index: number;
  /** Layer indices [first, end). */
  readonly first: number;
  readonly end: number;
}

export interface Plan {
  readonly net: Net;
  readonly towers: number;
  readonly layers: readonly PlannedLayer[];
  readonly segments: readonly Segment[];
}

const channelsOf = (shape: readonly number[]): number => shape[shape.length - 1]!;
/** Positions per image of a layer's input: every axis but the last. */
const positionsOf = (layer: Layer): number => product(layer.inShape.slice(0, -1));

/** Which towers' shards of a sharded activation of width `size` overlap `need`. */
export function shardsFor(size: number, towers: number, need: Range): number[] {
  const out: number[] = [];
  for (let s = 0; s < towers; s++) if (rangeIntersect(shardRange(size, s, towers), need)) out.push(s);
  return out;
}

function groupedSlice(layer: Layer, out: Range, inWidth: number, towers: number): TowerSlice {
  const outWidth = channelsOf(layer.outShape);
  const perGroup = outWidth / layer.groups;
  const inPerGroup = inWidth / layer.groups;
  const g0 = Math.floor(out.lo / perGroup);
  const g1 = Math.ceil(out.hi / perGroup);
  const whole = out.lo % perGroup === 0 && out.hi % perGroup === 0;
  if (!whole && g1 - g0 !== 1) {
    throw new ConfigError(
      '--gpus',
      `${towers} towers do not fit ${layer.name}'s ${layer.groups} groups: the tower count must divide net.groups (${layer.groups}) or be a multiple of it`,
    );
  }
  return { out, in: { lo: g0 * inPerGroup, hi: g1 * inPerGroup }, localGroups: whole ? g1 - g0 : 1 };
}

function sliceFor(layer: Layer, out: Range, towers: number): TowerSlice {
  const inWidth = channelsOf(layer.inShape);
  const spec = layer.spec;
  switch (spec.kind) {
    case 'conv':
    case 'dense':
      return groupedSlice(layer, out, inWidth, towers);
    case 'lrn': {
      const perGroup = inWidth / layer.groups;
      if (out.lo % perGroup === 0 && out.hi % perGroup === 0) return { out, in: out, localGroups: (out.hi - out.lo) / perGroup };
      // A group split across towers: read a halo of (size-1)/2 maps on each side, clipped to the group.
      const g = Math.floor(out.lo / perGroup);
      const half = (spec.size - 1) / 2;
      return { out, in: { lo: Math.max(g * perGroup, out.lo - half), hi: Math.min((g + 1) * perGroup, out.hi + half) }, localGroups: 1 };
    }
    case 'flatten': {
      // Channel-major flatten (as cuda-convnet): a tower's channel shard is a contiguous run of the vector.
      const hw = product(layer.inShape.slice(0, -1));
      return { out, in: { lo: out.lo / hw, hi: out.hi / hw }, localGroups: 1 };
    }
    default:
      return { out, in: out, localGroups: 1 };
  }
}

/** Row-split a dense layer? `auto`: when it moves fewer bytes (fewer units than inputs). */
function rowSplit(layer: Layer, input: Spread, towers: number): boolean {
  const spec = layer.spec;
  if (spec.kind !== 'dense' || towers === 1) return false;
  const possible = layer.groups === 1 && input !== 'replicated';
  if (spec.split === 'row' && !possible) {
    throw new ConfigError(
      `${layer.field}.split`,
      `${layer.name} cannot be row-split: ${layer.groups > 1 ? 'it reads its own group only (reads: own)' : 'its input is the image every tower holds whole'}; allowed here: auto, column`,
    );
  }
  if (spec.split === 'row') return true;
  return spec.split === 'auto' && possible && spec.units < channelsOf(layer.inShape);
}

export function planSplit(net: Net, towers: number): Plan {
  if (!Number.isInteger(towers) || towers < 1) throw new ConfigError('--gpus', `tower count must be a positive integer, got ${towers}`);
  const planned: PlannedLayer[] = [];
  let input: Spread = 'replicated'; // the image
  for (const layer of net.layers) {
    const outWidth = channelsOf(layer.outShape);
    const inWidth = channelsOf(layer.inShape);
    const replicated: boolean = input === 'replicated';
    if (rowSplit(layer, input, towers)) {
      if (inWidth % towers !== 0) {
        throw new ConfigError(`${layer.field}.split`, `${layer.name} has ${inWidth} inputs, not divisible by the tower count (${towers}); allowed: column`);
      }
      const slices = Array.from({ length: towers }, (_, t) => ({ out: { lo: 0, hi: outWidth }, in: shardRange(inWidth, t, towers), localGroups: 1 }));
      const exchange =
        input === 'partial'
          ? planExchange(
              'reduce',
              inWidth,
              slices.map((s) => s.in),
              positionsOf(layer),
            )
          : undefined;
      planned.push({ layer, towers: slices, exchange, input, output: 'partial', split: 'row', inputReplicated: false, outputReplicated: false });
      input = 'partial';
      continue;
    }
    const makesShards = layer.spec.kind === 'conv' || layer.spec.kind === 'dense';
    const outputReplicated: boolean = replicated && !makesShards;
    if (!outputReplicated && outWidth % towers !== 0) {
      const key = layer.spec.kind === 'conv' ? 'filters' : layer.spec.kind === 'dense' ? 'units' : 'kind';
      throw new ConfigError(
        `${layer.field}.${key}`,
        `${layer.name} has ${outWidth} ${layer.spec.kind === 'dense' ? 'units' : 'output maps'}, not divisible by the tower count (${towers}); allowed: multiples of ${towers}`,
      );
    }
    const slices: TowerSlice[] = [];
    let crosses = false;
    for (let t = 0; t < towers; t++) {
      const out = outputReplicated ? { lo: 0, hi: outWidth } : shardRange(outWidth, t, towers);
      const slice = sliceFor(layer, out, towers);
      const held = replicated ? { lo: 0, hi: inWidth } : shardRange(inWidth, t, towers);
      if (input === 'partial' || !rangeContains(held, slice.in)) crosses = true;
      slices.push(slice);
    }
    const exchange = crosses
      ? planExchange(
          input === 'partial' ? 'reduce' : 'gather',
          inWidth,
          slices.map((s) => s.in),
          positionsOf(layer),
        )
      : undefined;
    const output: Spread = outputReplicated ? 'replicated' : 'sharded';
    planned.push({ layer, towers: slices, exchange, input, output, split: 'column', inputReplicated: replicated, outputReplicated });
    input = output;
  }
  const segments: Segment[] = [];
  let first = 0;
  planned.forEach((p, i) => {
    if (p.exchange && i > first) {
      segments.push({ index: segments.length, first, end: i });
      first = i;
    }
  });
  segments.push({ index: segments.length, first, end: planned.length });
  return { net, towers, layers: planned, segments };
}
