/**
 * The input gradient of a convolution, in a form every backend accepts (see padding.ts): the backend's
 * Conv2DBackpropInput with VALID or SAME padding, or, when neither pads by exactly `pad`, VALID over the
 * zero-padded input's shape with the padding cut off afterwards.
 *
 * On wasm a stride-1 input gradient is computed instead as a forward convolution: dy convolved with the
 * filter flipped in space and with its in/out axes swapped, padded by (size − 1 − pad). That runs on
 * XNNPACK, where wasm's own Conv2DBackpropInput is a plain loop (measured ~9× slower on conv2 of the small
 * net). Native backends (cuDNN, TensorFlow's CPU kernels) have fast kernels of their own.
 */
import * as tf from '@tensorflow/tfjs';
import { convPadding, namedPadding } from './padding.js';

export function conv2dBackpropInput(dy: tf.Tensor4D, w: tf.Tensor4D, xShape: [number, number, number, number], stride: number, pad: number): tf.Tensor4D {
  const [fh, fw] = w.shape;
  const [n, h, wd, c] = xShape;
  if (tf.getBackend() === 'wasm' && stride === 1 && fh === fw && pad <= fh - 1) {
    return tf.tidy(() => {
      const flipped = tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]); // [fh, fw, Co, Ci]
      return tf.conv2d(dy, flipped, 1, convPadding([dy.shape[1], dy.shape[2]], [fh, fw], 1, fh - 1 - pad));
    });
  }
  const named = namedPadding([h, wd], [fh, fw], stride, pad);
  if (named) return tf.conv2dTranspose(dy, w, xShape, stride, named);
  return tf.tidy(() => {
    const full = tf.conv2dTranspose(dy, w, [n, h + 2 * pad, wd + 2 * pad, c], stride, 'valid');
    return tf.slice(full, [0, pad, pad, 0], xShape);
  });
}
