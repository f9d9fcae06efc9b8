/**
 * Local response normalisation across maps (paper §3.3): b = a / (k + α·Σ a²)^β over `size` adjacent maps,
 * α per squared term. Grouped: each group (the paper's tower) normalises over its own maps only. When a
 * group is split across towers the tower is handed a halo of maps on each side, computes over it, and
 * keeps its own range; backward returns the gradient for the whole halo (the coordinator sums overlaps).
 */
import * as tf from '@tensorflow/tfjs';
import { concatGroups, perGroup } from './groups.js';
import type { LayerOp } from './types.js';

export interface LrnArgs {
  size: number;
  k: number;
  alpha: number;
  beta: number;
  /** Whole groups in this tower's slice; 1 when the slice is part of one group. */
  groups: number;
  /** Offset of the kept output inside the (halo-extended) input, and its width. */
  keep?: { offset: number; width: number };
}

const attrsOf = (a: LrnArgs) => ({ depthRadius: (a.size - 1) / 2, bias: a.k, alpha: a.alpha, beta: a.beta });

function normalize(x: tf.Tensor4D, a: LrnArgs): tf.Tensor4D {
  const { depthRadius, bias, alpha, beta } = attrsOf(a);
  if (a.groups === 1) return tf.localResponseNormalization(x, depthRadius, bias, alpha, beta);
  return concatGroups(perGroup(x, a.groups).map((xi) => tf.localResponseNormalization(xi, depthRadius, bias, alpha, beta) as tf.Tensor4D));
}

function normalizeGrad(x: tf.Tensor4D, y: tf.Tensor4D, dy: tf.Tensor4D, a: LrnArgs): tf.Tensor4D {
  const attrs = attrsOf(a);
  const grad = (xi: tf.Tensor, yi: tf.Tensor, dyi: tf.Tensor) => tf.engine().runKernel('LRNGrad', { x: xi, y: yi, dy: dyi }, attrs as never) as tf.Tensor4D;
  if (a.groups === 1) return grad(x, y, dy);
  const [xs, ys, dys] = [x, y, dy].map((t) => perGroup(t, a.groups));
  return concatGroups(xs!.map((xi, g) => grad(xi, ys![g]!, dys![g]!)));
}

export function lrnOp(a: LrnArgs): LayerOp {
  return {
    forward: (x) => {
      const full = normalize(x as tf.Tensor4D, a);
      if (!a.keep) return { y: full, saved: [x, full] };
      const [n, h, w] = full.shape;
      const y = tf.slice(full, [0, 0, 0, a.keep.offset], [n, h, w, a.keep.width]);
      return { y, saved: [x, full] };
    },
    backward: (dy, [x, full]) => {
      const dx = tf.tidy(() => {
        let dyFull = dy as tf.Tensor4D;
        if (a.keep) {
          const [n, h, w, c] = full!.shape as [number, number, number, number];
          const parts: tf.Tensor4D[] = [];
          if (a.keep.offset > 0) parts.push(tf.zeros([n, h, w, a.keep.offset]));
          parts.push(dyFull);
          const right = c - a.keep.offset - a.keep.width;
          if (right > 0) parts.push(tf.zeros([n, h, w, right]));
          dyFull = parts.length === 1 ? parts[0]! : tf.concat(parts, 3);
        }
        return normalizeGrad(x as tf.Tensor4D, full as tf.Tensor4D, dyFull, a);
      });
      return { dx, grads: [] };
    },
  };
}
