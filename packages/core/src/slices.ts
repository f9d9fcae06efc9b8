/**
 * Where each tower's parameter slices sit in the full tensors: the one layout that weights, optimizer state
 * and checkpoints share. Column-split layers: columns [lo, hi) of the last axis of W and b. Row-split dense
 * layers: rows [lo, hi) of W (axis 0); the bias lives on tower 0 only.
 */
import type { Plan } from './plan.js';
import type { ParamMeta } from './protocol/types.js';

export interface ParamSlice {
  /** Layer index, and the parameter's index within the layer's params (0 weight, 1 bias). */
  layer: number;
  param: number;
  meta: ParamMeta;
}

export function paramSlices(plan: Plan, tower: number): ParamSlice[] {
  const out: ParamSlice[] = [];
  plan.layers.forEach((p, i) => {
    if (p.layer.paramShapes.length === 0) return;
    const slice = p.towers[tower]!;
    const full = (j: number): number[] => p.layer.paramShapes[j]!.slice();
    const name = p.layer.name;
    if (p.split === 'row') {
      out.push({ layer: i, param: 0, meta: { layer: name, param: 'weight', fullShape: full(0), axis: 0, lo: slice.in.lo, hi: slice.in.hi } });
      if (tower === 0) out.push({ layer: i, param: 1, meta: { layer: name, param: 'bias', fullShape: full(1), axis: 0, lo: 0, hi: slice.out.hi } });
      return;
    }
    (['weight', 'bias'] as const).forEach((param, j) => {
      out.push({ layer: i, param: j, meta: { layer: name, param, fullShape: full(j), axis: full(j).length - 1, lo: slice.out.lo, hi: slice.out.hi } });
    });
  });
  return out;
}

/** Indices [lo, hi) of axis `axis` of a tensor of shape `shape` (row-major), copied out. */
export function takeSlice(full: Float32Array, shape: readonly number[], axis: number, lo: number, hi: number): Float32Array {
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const dim = shape[axis]!;
  const block = (hi - lo) * inner;
  const out = new Float32Array(outer * block);
  for (let o = 0; o < outer; o++) out.set(full.subarray((o * dim + lo) * inner, (o * dim + hi) * inner), o * block);
  return out;
}

/** Copy `src`, indices [lo, hi) of axis `axis` of a tensor of shape `shape`, into the full tensor `full`. */
export function placeSlice(full: Float32Array, shape: readonly number[], axis: number, lo: number, hi: number, src: Float32Array): void {
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const dim = shape[axis]!;
  const block = (hi - lo) * inner;
  if (src.length !== outer * block) throw new Error(`slice [${lo}, ${hi}) of axis ${axis} of [${shape.join(', ')}] needs ${outer * block} values, got ${src.length}`);
  for (let o = 0; o < outer; o++) full.set(src.subarray(o * block, (o + 1) * block), (o * dim + lo) * inner);
}

/** A slot of optimizer state, kept per parameter slice beside its value. */
export type StateSlot = NonNullable<ParamMeta['slot']>;

/** The optimizer's state slots per parameter, in the order `weights`, `get_weights` and `load` list them (after the values). */
export function optimizerSlots(kind: 'sgd' | 'adam'): readonly StateSlot[] {
  return kind === 'adam' ? ['m', 'v'] : ['velocity'];
}

/**
 * The name of a slice's full tensor in weight maps and checkpoints: `layer/param` for its value, else
 * `layer/param@slot`: `fc6/weight@velocity` (SGD, as checkpoints always named it), `fc6/weight@m`, `fc6/weight@v` (Adam).
 */
export const stateKey = (m: Pick<ParamMeta, 'layer' | 'param' | 'slot'>): string => `${m.layer}/${m.param}${m.slot ? `@${m.slot}` : ''}`;
