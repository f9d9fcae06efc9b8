/**
 * Convolution, optionally grouped (the paper's `reads: own` conv2/conv4/conv5 on one device are 2 groups).
 * Filters [fh, fw, Ci/groups, Co], symmetric padding by `pad`, NHWC. The kernels are handed the padding in
 * a form every backend accepts (kernels/padding.ts): tfjs-node refuses a number.
 */
import * as tf from '@tensorflow/tfjs';
import { conv2dBackpropInput } from '../kernels/conv2d_backprop_input.js';
import { convPadding, namedPadding, padSpatial } from '../kernels/padding.js';
import { concatGroups, perGroup } from './groups.js';
import type { LayerOp, Wants } from './types.js';

export interface ConvArgs {
  stride: number;
  pad: number;
  /** Groups inside this tower's slice (1 when the slice lies within one group). */
  groups: number;
}

export function convForward(x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D, a: ConvArgs): tf.Tensor4D {
  return tf.tidy(() => {
    const xs = perGroup(x, a.groups);
    const ws = perGroup(w, a.groups);
    const bs = perGroup(b, a.groups);
    const pad = convPadding([x.shape[1], x.shape[2]], [w.shape[0], w.shape[1]], a.stride, a.pad);
    const ys = xs.map((xi, g) => tf.fused.conv2d({ x: xi, filter: ws[g]!, strides: a.stride, pad, bias: bs[g]! }));
    return concatGroups(ys);
  });
}

/**
 * ∂L/∂b: dy summed over batch and space, as dyᵀ·1 on the matmul kernel. On wasm, tf.sum over axes
 * [0, 1, 2] transposes first: 29 ms for conv2's dy at batch 32 (27×27×128 per tower), this takes 5 ms.
 */
function biasGrad(dy: tf.Tensor4D): tf.Tensor1D {
  const c = dy.shape[3];
  const rows = dy.size / c;
  return tf.reshape(tf.matMul(tf.reshape(dy, [rows, c]), tf.ones([rows, 1]), true, false), [c]);
}

/**
 * ∂L/∂W by the backend's Conv2DBackpropFilter, which on tfjs-node takes only VALID or SAME: any other
 * padding is applied to x first, then VALID.
 */
function filterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: [number, number, number, number], a: ConvArgs): tf.Tensor4D {
  const named = namedPadding([x.shape[1], x.shape[2]], [filterShape[0], filterShape[1]], a.stride, a.pad);
  const attrs = { strides: [a.stride, a.stride], pad: named ?? 'valid', dataFormat: 'NHWC', filterShape };
  return tf.engine().runKernel('Conv2DBackpropFilter', { x: named ? x : padSpatial(x, a.pad), dy }, attrs as never) as tf.Tensor4D;
}

export function convBackward(x: tf.Tensor4D, w: tf.Tensor4D, dy: tf.Tensor4D, a: ConvArgs, wants: Wants = {}): { dx: tf.Tensor4D | undefined; dw: tf.Tensor4D; db: tf.Tensor1D } {
  return tf.tidy(() => {
    const xs = perGroup(x, a.groups);
    const ws = perGroup(w, a.groups);
    const dys = perGroup(dy, a.groups);
    const dxs: tf.Tensor4D[] = [];
    const dws: tf.Tensor4D[] = [];
    xs.forEach((xi, g) => {
      const wi = ws[g]!;
      const dyi = dys[g]!;
      if (wants.dx !== false) dxs.push(conv2dBackpropInput(dyi, wi, xi.shape, a.stride, a.pad));
      dws.push(filterGrad(xi, dyi, wi.shape, a));
    });
    const dx = wants.dx !== false ? concatGroups(dxs) : undefined;
    return { dw: concatGroups(dws), db: biasGrad(dy), ...(dx ? { dx } : {}) } as { dx: tf.Tensor4D | undefined; dw: tf.Tensor4D; db: tf.Tensor1D };
  });
}

export function convOp(a: ConvArgs): LayerOp {
  return {
    forward: (x, [w, b]) => ({ y: convForward(x as tf.Tensor4D, w as tf.Tensor4D, b as tf.Tensor1D, a), saved: [x] }),
    backward: (dy, [x], [w], wants) => {
      const { dx, dw, db } = convBackward(x as tf.Tensor4D, w as tf.Tensor4D, dy as tf.Tensor4D, a, wants);
      return { dx, grads: [dw, db] };
    },
  };
}
