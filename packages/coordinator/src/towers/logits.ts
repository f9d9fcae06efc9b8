/**
 * The coordinator's arithmetic around a pass: cutting a batch into micro-batches, assembling the logits from
 * the towers' shares of the last layer, and cutting ∂loss/∂logits back into those shares.
 */
import { concatLastAxis, type Plan, sliceLastAxis, sumPieces } from '@alexnet/core';
import type { Outgoing } from './link.js';

export interface MicroBatch {
  index: number;
  offset: number;
  size: number;
}

/** Cut a batch into `m` micro-batches of nearly equal size. */
export function microBatches(batch: number, m: number): MicroBatch[] {
  const count = Math.min(m, batch);
  return Array.from({ length: count }, (_, index) => {
    const offset = Math.floor((index * batch) / count);
    return { index, offset, size: Math.floor(((index + 1) * batch) / count) - offset };
  });
}

/** The logits [n, classes] from the towers' outputs of the last layer, written into `into`. */
export function logitsOf(plan: Plan, outs: Float32Array[], n: number, into: Float32Array): Float32Array {
  const last = plan.layers[plan.layers.length - 1]!;
  const classes = plan.net.classes;
  let z: Float32Array;
  if (last.output === 'partial') {
    const pieces = outs.map((data) => ({ lo: 0, hi: classes, data }));
    z = sumPieces(pieces, n, 0, classes, into);
  } else z = last.output === 'replicated' ? outs[0]! : concatLastAxis(outs, n);
  if (z !== into) into.set(z);
  return into;
}

/** Each tower's share of ∂loss/∂logits. */
export function dlogitsFor(plan: Plan, dlogits: Float32Array, n: number): Outgoing[] {
  const last = plan.layers[plan.layers.length - 1]!;
  if (last.output !== 'sharded') return last.towers.map(() => ({ data: dlogits, shape: [n, plan.net.classes] }));
  return last.towers.map((s) => ({ data: sliceLastAxis(dlogits, n, s.out.lo, s.out.hi), shape: [n, s.out.hi - s.out.lo] }));
}
