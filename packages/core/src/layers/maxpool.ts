/** Max pooling, `valid`; the paper's overlapping pooling is size 3, stride 2. Backward routes dy to the argmax. */
import * as tf from '@tensorflow/tfjs';
import { maxPoolGrad } from '../kernels/max_pool_grad.js';
import type { LayerOp } from './types.js';

export function maxPoolOp(size: number, stride: number): LayerOp {
  return {
    forward: (x) => {
      const y = tf.maxPool(x as tf.Tensor4D, size, stride, 'valid');
      return { y, saved: [x, y] };
    },
    backward: (dy, [x, y]) => ({
      dx: maxPoolGrad(dy as tf.Tensor4D, x as tf.Tensor4D, y as tf.Tensor4D, size, stride),
      grads: [],
    }),
  };
}
