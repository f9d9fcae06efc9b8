/**
 * Flatten [N,H,W,C] → [N, C·H·W] in channel-major order (as cuda-convnet): a tower's channel shard is then
 * a contiguous run of the flat vector, so the flat activation stays sharded by tower without any exchange.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerOp } from './types.js';

/** `inShape`: the per-image input shape [H, W, C] (or [U], where flatten is the identity). */
export function flattenOp(inShape: readonly number[]): LayerOp {
  if (inShape.length !== 3) return { forward: (x) => ({ y: x.clone(), saved: [] }), backward: (dy) => ({ dx: dy.clone(), grads: [] }) };
  const [h, w] = inShape as [number, number, number];
  return {
    forward: (x) => {
      const [n, , , c] = x.shape as [number, number, number, number];
      return { y: tf.tidy(() => tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [n, c * h * w])), saved: [] };
    },
    backward: (dy) => {
      const [n, width] = dy.shape as [number, number];
      return { dx: tf.tidy(() => tf.transpose(tf.reshape(dy, [n, width / (h * w), h, w]), [0, 2, 3, 1])), grads: [] };
    },
  };
}
