/**
 * Padding in the forms every TF.js backend's kernels accept. Our layers pad symmetrically by a number
 * (the paper's conv2 pads 2), but tfjs-node refuses numbers: its Conv2D takes only VALID, SAME or
 * EXPLICIT padding, and its Conv2DBackpropFilter, Conv2DBackpropInput, MaxPool and MaxPoolGrad only VALID
 * or SAME (tfjs-node/src/kernels/*.ts in tfjs 4.22). So a numeric pad becomes `'valid'` when it is 0,
 * `'same'` when SAME pads exactly that much on every side, and otherwise explicit padding (forward) or a
 * zero-padded input with VALID (backward).
 */
import * as tf from '@tensorflow/tfjs';

export type ExplicitPadding = [[0, 0], [number, number], [number, number], [0, 0]];

/** SAME's padding before and after along one axis, as TensorFlow and TF.js compute it. */
export function samePadding(inLength: number, size: number, stride: number): [number, number] {
  const out = Math.ceil(inLength / stride);
  const total = Math.max(0, (out - 1) * stride + size - inLength);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

/**
 * `'valid'` or `'same'` when one of them pads an [H, W] input by exactly `pad` on every side (and so gives
 * the same output size), else undefined.
 */
export function namedPadding(inHW: readonly [number, number], filterHW: readonly [number, number], stride: number, pad: number): 'valid' | 'same' | undefined {
  if (pad === 0) return 'valid';
  const same = [0, 1].every((d) => samePadding(inHW[d]!, filterHW[d]!, stride).every((p) => p === pad));
  return same ? 'same' : undefined;
}

/** The padding argument for a forward convolution (Conv2D accepts EXPLICIT on every backend). */
export function convPadding(inHW: readonly [number, number], filterHW: readonly [number, number], stride: number, pad: number): 'valid' | 'same' | ExplicitPadding {
  return (
    namedPadding(inHW, filterHW, stride, pad) ?? [
      [0, 0],
      [pad, pad],
      [pad, pad],
      [0, 0],
    ]
  );
}

/** x [N, H, W, C] with `pad` zeros on each side of H and W. */
export const padSpatial = (x: tf.Tensor4D, pad: number): tf.Tensor4D =>
  tf.pad(x, [
    [0, 0],
    [pad, pad],
    [pad, pad],
    [0, 0],
  ]);
