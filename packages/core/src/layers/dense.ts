/**
 * Fully connected layer, y = x·W + b with W [In/groups, U]. On a tower this is the column-parallel linear
 * layer of Megatron-LM: each tower holds a slice of W's columns and reads the whole input (gathered by
 * the coordinator in forward; the input gradients of all towers are summed in backward).
 */
import * as tf from '@tensorflow/tfjs';
import { concatGroups, perGroup } from './groups.js';
import type { LayerOp } from './types.js';


export function denseForward(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, groups = 1): tf.Tensor2D {
  return tf.tidy(() => {
    const ws = perGroup(w, groups);
    const bs = perGroup(b, groups);
    const ys = perGroup(x, groups).map((xi, g) => tf.fused.matMul({ a: xi, b: ws[g]!, bias: bs[g]! }) as tf.Tensor2D);
    return concatGroups(ys);
  });
}

export function denseBackward(x: tf.Tensor2D, w: tf.Tensor2D, dy: tf.Tensor2D, groups = 1, needDx = true): { dx: tf.Tensor2D | undefined; dw: tf.Tensor2D; db: tf.Tensor1D } {
  return tf.tidy(() => {
    const xs = perGroup(x, groups);
    const ws = perGroup(w, groups);
    const dys = perGroup(dy, groups);
    const dx = needDx ? dys.map((dyi, g) => tf.matMul(dyi, ws[g]!, false, true) as tf.Tensor2D) : [];
    const dw = xs.map((xi, g) => tf.matMul(xi, dys[g]!, true, false) as tf.Tensor2D);
    const out = { dw: concatGroups(dw), db: tf.sum(dy, 0) as tf.Tensor1D };
    return (needDx ? { ...out, dx: concatGroups(dx) } : out) as { dx: tf.Tensor2D | undefined; dw: tf.Tensor2D; db: tf.Tensor1D };
  });
}

export function denseOp(groups: number): LayerOp {
  return {
    forward: (x, [w, b]) => ({ y: denseForward(x as tf.Tensor2D, w as tf.Tensor2D, b as tf.Tensor1D, groups), saved: [x] }),
    backward: (dy, [x], [w], needDx) => {
      const { dx, dw, db } = denseBackward(x as tf.Tensor2D, w as tf.Tensor2D, dy as tf.Tensor2D, groups, needDx);
      return { dx, grads: [dw, db] };
    },
  };
}
