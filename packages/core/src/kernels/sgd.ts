/**
 * The optimizer's element-wise work, one pass over memory. The paper's update,
 *   v ← m·v − lr·(g + wd·w);  w ← w + v,
 * as tf ops is five kernels and four temporaries per parameter: ~60M values a step on a paper tower (its
 * dense weights are held twice, see dense.ts). On wasm it runs as one JS loop over heap views into fresh
 * outputs (fresh, so XNNPACK's per-tensor weight caches never see stale values); elsewhere as tf ops.
 * Micro-batch gradients accumulate in place (gradients are never matmul or conv operands).
 */
import * as tf from '@tensorflow/tfjs';
import { type Heap, wasmHeap } from './heap.js';

export function sgdStep(w: tf.Tensor, v: tf.Tensor, g: tf.Tensor, lr: number, momentum: number, decay: number): { w: tf.Tensor; v: tf.Tensor } {
  const heap = wasmHeap();
  return heap ? sgdLoop(heap, w, v, g, lr, momentum, decay) : sgdOps(w, v, g, lr, momentum, decay);
}

/**
 * The wasm pass. (Kept apart from the tf-ops closure: numbers a closure captures live in a context object,
 * and the loop would load them from it on every element.)
 */
function sgdLoop(heap: Heap, w: tf.Tensor, v: tf.Tensor, g: tf.Tensor, lr: number, momentum: number, decay: number): { w: tf.Tensor; v: tf.Tensor } {
  const wOut = heap.output(w.shape);
  const vOut = heap.output(w.shape);
  const [w0, v0, g0, w1, v1] = [w, v, g, wOut, vOut].map((t) => heap.view(t)) as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
  const n = w0.length;
  for (let i = 0; i < n; i++) {
    const step = momentum * v0[i]! - lr * (g0[i]! + decay * w0[i]!);
    v1[i] = step;
    w1[i] = w0[i]! + step;
  }
  return { w: heap.tensor(wOut), v: heap.tensor(vOut) };
}

function sgdOps(w: tf.Tensor, v: tf.Tensor, g: tf.Tensor, lr: number, momentum: number, decay: number): { w: tf.Tensor; v: tf.Tensor } {
  return tf.tidy(() => {
    const step = tf.sub(tf.mul(v, momentum), tf.mul(decay > 0 ? tf.add(g, tf.mul(w, decay)) : g, lr));
    return { w: tf.add(w, step), v: step };
  });
}

/** sum + g, reusing `sum`'s memory on wasm; returns the sum (disposing `g`, and `sum` when replaced). */
export function accumulate(sum: tf.Tensor, g: tf.Tensor): tf.Tensor {
  const heap = wasmHeap();
  if (heap) {
    const s = heap.view(sum);
    const d = heap.view(g);
    for (let i = 0; i < s.length; i++) s[i]! += d[i]!;
    g.dispose();
    return sum;
  }
  const out = tf.keep(tf.add(sum, g));
  sum.dispose();
  g.dispose();
  return out;
}
