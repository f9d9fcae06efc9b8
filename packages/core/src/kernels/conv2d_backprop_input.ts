/**
 * The input gradient of a convolution. For stride 1 it is itself a convolution: dy convolved with the
 * filter flipped in space and with its in/out axes swapped, padded by (size − 1 − pad). That runs on the
 * backend's fast forward kernel (XNNPACK on wasm), where wasm's own Conv2DBackpropInput is a plain loop
 * (measured ~9× slower on conv2 of the small net). Strided convolutions keep the backend's kernel.
 */
import * as tf from '@tensorflow/tfjs';

export function conv2dBackpropInput(dy: tf.Tensor4D, w: tf.Tensor4D, xShape: [number, number, number, number], stride: number, pad: number): tf.Tensor4D {
  const [fh, fw] = w.shape;
  if (stride !== 1 || fh !== fw || pad > fh - 1) return tf.conv2dTranspose(dy, w, xShape, stride, pad);
  return tf.tidy(() => {
    const flipped = tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]); // [fh, fw, Co, Ci]
    return tf.conv2d(dy, flipped, 1, fh - 1 - pad);
  });
}
