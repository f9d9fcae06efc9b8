/**
 * Full parameters and optimizer state to and from the towers' slices: what checkpoints, exports and
 * restarts hold is independent of the tower count.
 */
import { AlexnetError, type Message, OPTIMIZERS, optimizerSlots, type ParamMeta, type Plan, paramSlices, placeSlice, product, stateKey, takeSlice } from '@alexnet/core';
import type { Outgoing } from './link.js';

/** Full tensors by state key: `layer/weight`, `layer/bias`, `layer/weight@velocity`, … */
export type FullTensors = Map<string, { shape: number[]; data: Float32Array }>;
type Optimizer = (typeof OPTIMIZERS)[number];

/** The full tensors assembled from every tower's `weights` reply. */
export function assemble(replies: readonly Message<'weights'>[]): FullTensors {
  const out: FullTensors = new Map();
  for (const r of replies) {
    r.header.params.forEach((p, i) => {
      const key = stateKey(p);
      const full = out.get(key) ?? { shape: p.fullShape, data: new Float32Array(product(p.fullShape)) };
      placeSlice(full.data, p.fullShape, p.axis, p.lo, p.hi, r.tensors[i]!);
      out.set(key, full);
    });
  }
  return out;
}

/** Tower t's slices of full parameters and of `optimizer`'s state: the body and tensors of its `load`. */
export function slicesFor(
  plan: Plan,
  optimizer: Optimizer,
  t: number,
  state: ReadonlyMap<string, { shape: number[]; data: Float32Array }>,
): { params: ParamMeta[]; tensors: Outgoing[] } {
  const slots = optimizerSlots(optimizer);
  const slices = paramSlices(plan, t).map((s) => s.meta);
  const params = [...slices, ...slots.flatMap((slot) => slices.map((m) => ({ ...m, slot })))];
  const tensors = params.map((m) => {
    const key = stateKey(m);
    const full = state.get(key);
    if (!full) throw new AlexnetError('E_CHECKPOINT', `the checkpoint has no ${key}${otherOptimizer(optimizer, m, state)}`);
    if (full.shape.join('×') !== m.fullShape.join('×')) {
      throw new AlexnetError('E_CHECKPOINT', `the checkpoint's ${key} is ${full.shape.join('×')}, this net's ${m.fullShape.join('×')}`);
    }
    const data = takeSlice(full.data, full.shape, m.axis, m.lo, m.hi);
    return { data, shape: [data.length] };
  });
  return { params, tensors };
}

/** When state of another optimizer is what the checkpoint holds (an SGD checkpoint resumed with Adam, say), say so. */
function otherOptimizer(optimizer: Optimizer, m: ParamMeta, state: ReadonlyMap<string, unknown>): string {
  const other = OPTIMIZERS.find((k) => k !== optimizer && m.slot && optimizerSlots(k).every((s) => state.has(stateKey({ ...m, slot: s }))));
  if (!other) return '';
  const slots = optimizerSlots(other).map((s) => `@${s}`);
  return `: it holds ${other} state (${slots.join(', ')}), this config's optimizer is ${optimizer}`;
}
