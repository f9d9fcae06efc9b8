/**
 * Max-pool backward as a typed-array loop. The wasm backend's MaxPoolGrad took 24 ms for pool1 of the
 * small net at batch 64 (its forward: 1 ms); this loop, channel-innermost so every read is contiguous,
 * takes a fraction of that. The gradient goes to the first maximum of each window (as the cpu backend).
 * Only for backends whose tensors live in JS-reachable memory (wasm, cpu); native backends keep theirs.
 */
import * as tf from '@tensorflow/tfjs';

/** dx for a `valid` max pool of window `size` and `stride` over x [N,H,W,C] with output gradient dy. */
export function maxPoolGradValues(x: Float32Array, xShape: readonly number[], dy: Float32Array, size: number, stride: number): Float32Array {
  const [n, h, w, c] = xShape as [number, number, number, number];
  const oh = Math.floor((h - size) / stride) + 1;
  const ow = Math.floor((w - size) / stride) + 1;
  const dx = new Float32Array(x.length);
  const best = new Float32Array(c);
  const arg = new Int32Array(c);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        let first = true;
        for (let ki = 0; ki < size; ki++) {
          for (let kj = 0; kj < size; kj++) {
            const base = ((b * h + i * stride + ki) * w + j * stride + kj) * c;
            if (first) {
              for (let ch = 0; ch < c; ch++) {
                best[ch] = x[base + ch]!;
                arg[ch] = base + ch;
              }
              first = false;
              continue;
            }
            for (let ch = 0; ch < c; ch++) {
              const v = x[base + ch]!;
              if (v > best[ch]!) {
                best[ch] = v;
                arg[ch] = base + ch;
              }
            }
          }
        }
        const o = ((b * oh + i) * ow + j) * c;
        for (let ch = 0; ch < c; ch++) dx[arg[ch]!]! += dy[o + ch]!;
      }
    }
  }
  return dx;
}

export function maxPoolGrad(dy: tf.Tensor4D, x: tf.Tensor4D, y: tf.Tensor4D, size: number, stride: number): tf.Tensor4D {
  const backend = tf.getBackend();
  if (backend !== 'wasm' && backend !== 'cpu') {
    return tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: y }, { filterSize: [size, size], strides: [stride, stride], pad: 'valid' } as never) as tf.Tensor4D;
  }
  return tf.tensor4d(maxPoolGradValues(x.dataSync() as Float32Array, x.shape, dy.dataSync() as Float32Array, size, stride), x.shape);
}
