/** ReLU; backward masks dy by the saved output (y > 0), no recomputation. */
import * as tf from '@tensorflow/tfjs';
import type { LayerOp } from './types.js';

export const reluOp: LayerOp = {
  forward: (x) => {
    const y = tf.relu(x);
    return { y, saved: [y] };
  },
  backward: (dy, [y]) => ({ dx: tf.tidy(() => tf.mul(dy, tf.step(y!))), grads: [] }),
};
