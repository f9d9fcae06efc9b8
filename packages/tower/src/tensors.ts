/** Small tensor helpers the tower's model uses on every backend. */
import * as tf from '@tensorflow/tfjs';

/** A tensor read back into host memory. */
export interface TensorOut {
  data: Float32Array;
  shape: number[];
}

export const toOut = (t: tf.Tensor): TensorOut => ({ data: t.dataSync() as Float32Array, shape: t.shape.slice() });

/** ms since t0 once `t` is computed (wasm and cpu run ops synchronously; other backends are made to finish). */
export function timed(t: tf.Tensor, t0: number): number {
  if (tf.getBackend() !== 'wasm' && tf.getBackend() !== 'cpu') t.dataSync();
  return performance.now() - t0;
}

/** Columns [lo, hi) of `t`'s last axis (on the backend: only they are read back, if they are). */
export function lastAxisSlice(t: tf.Tensor, lo: number, hi: number): tf.Tensor {
  const last = t.rank - 1;
  return tf.slice(
    t,
    t.shape.map((_, d) => (d === last ? lo : 0)),
    t.shape.map((n, d) => (d === last ? hi - lo : n)),
  );
}

/** `t` placed at columns [lo, lo + width of t) of a zero tensor `width` wide (last axis). */
export function padLastAxis(t: tf.Tensor, lo: number, width: number): tf.Tensor {
  const w = t.shape[t.rank - 1]!;
  if (lo === 0 && w === width) return t;
  return tf.pad(t, t.shape.map((_, d) => (d === t.rank - 1 ? [lo, width - lo - w] : [0, 0])) as [number, number][]);
}
