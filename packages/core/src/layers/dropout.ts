/**
 * Dropout (inverted: kept units are scaled by 1/(1−rate) in training, identity at test; the same function
 * as the paper's "multiply outputs by 0.5 at test"). The mask is drawn by global element index from the
 * counter-based generator, so any tower count and any micro-batching drop the same units.
 */
import * as tf from '@tensorflow/tfjs';
import { uniformAt } from '../rng.js';
import type { LayerOp, StepContext } from './types.js';

export interface DropoutArgs {
  rate: number;
  /** Stream id for the mask (the layer's index). */
  stream: number;
  /** Full width of the last axis, and where this tower's slice starts in it. */
  fullWidth: number;
  offset: number;
}

/** The mask (0 or 1/(1−rate)) for a [batch, ..., width] slice. */
export function dropoutMask(shape: readonly number[], a: DropoutArgs, ctx: StepContext): Float32Array {
  const batch = shape[0]!;
  const width = shape[shape.length - 1]!;
  const rows = shape.slice(1, -1).reduce((p, d) => p * d, 1);
  const scale = 1 / (1 - a.rate);
  const out = new Float32Array(batch * rows * width);
  const stream = 1_000_000 + ctx.step * 1024 + a.stream;
  let i = 0;
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < rows; r++) {
      const base = ((ctx.sampleOffset + b) * rows + r) * a.fullWidth + a.offset;
      for (let c = 0; c < width; c++) out[i++] = uniformAt(ctx.seed, stream, base + c) >= a.rate ? scale : 0;
    }
  }
  return out;
}

export function dropoutOp(a: DropoutArgs): LayerOp {
  return {
    forward: (x, _p, ctx) => {
      if (!ctx.training || a.rate === 0) return { y: x.clone(), saved: [] };
      const mask = tf.tensor(dropoutMask(x.shape, a, ctx), x.shape);
      return { y: tf.mul(x, mask), saved: [mask] };
    },
    backward: (dy, [mask]) => ({ dx: mask ? tf.mul(dy, mask) : dy.clone(), grads: [] }),
  };
}
