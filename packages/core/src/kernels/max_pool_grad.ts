/**
 * Max-pool backward as a typed-array loop. The wasm backend's MaxPoolGrad took 24 ms for pool1 of the
 * small net at batch 64 (its forward: 1 ms). The gradient goes to the first maximum of each window, in
 * row-major window order (as the cpu backend). Only for backends whose tensors live in JS-reachable memory
 * (wasm, cpu); native backends keep theirs.
 *
 * Rather than tracking a running max and argmax (a data-dependent branch per compare, mispredicted about
 * half the time), each window position is compared with the forward output y, which holds the max
 * exactly: the test is almost always false, so the branch predicts well. pool1 of the paper net (one
 * tower, batch 32): 114 ms with the running argmax, see the bench for this one.
 */
import * as tf from '@tensorflow/tfjs';
import { wasmHeap } from './heap.js';

/**
 * dx for a `valid` max pool of window `size` and `stride` over x [N,H,W,C], with its output y and output
 * gradient dy, added into `dx` (zeros on entry).
 */
export function maxPoolGradInto(dx: Float32Array, x: Float32Array, xShape: readonly number[], y: Float32Array, dy: Float32Array, size: number, stride: number): Float32Array {
  const [n, h, w, c] = xShape as [number, number, number, number];
  const oh = Math.floor((h - size) / stride) + 1;
  const ow = Math.floor((w - size) / stride) + 1;
  const done = new Uint8Array(c);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        const o = ((b * oh + i) * ow + j) * c;
        done.fill(0);
        for (let ki = 0; ki < size; ki++) {
          for (let kj = 0; kj < size; kj++) {
            const base = ((b * h + i * stride + ki) * w + j * stride + kj) * c;
            for (let ch = 0; ch < c; ch++) {
              if (x[base + ch] === y[o + ch] && done[ch] === 0) {
                dx[base + ch]! += dy[o + ch]!;
                done[ch] = 1;
              }
            }
          }
        }
      }
    }
  }
  return dx;
}

export function maxPoolGrad(dy: tf.Tensor4D, x: tf.Tensor4D, y: tf.Tensor4D, size: number, stride: number): tf.Tensor4D {
  const name = tf.getBackend();
  if (name !== 'wasm' && name !== 'cpu') {
    return tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: y }, { filterSize: [size, size], strides: [stride, stride], pad: 'valid' } as never) as tf.Tensor4D;
  }
  const heap = wasmHeap();
  if (heap) {
    // On the wasm heap in place: no copies of x, y, dy out or of dx back in (~40 MB a step for pool1 of a
    // paper tower at batch 32; 66 -> 48 ms).
    const out = heap.output(x.shape);
    const dx = heap.view(out).fill(0);
    maxPoolGradInto(dx, heap.view(x), x.shape, heap.view(y), heap.view(dy), size, stride);
    return heap.tensor<tf.Tensor4D>(out);
  }
  const values = maxPoolGradInto(new Float32Array(x.size), x.dataSync() as Float32Array, x.shape, y.dataSync() as Float32Array, dy.dataSync() as Float32Array, size, stride);
  return tf.tensor4d(values, x.shape);
}
