/**
 * Adam's element-wise work, one pass over memory, as TF.js's AdamOptimizer computes it (t counts updates,
 * this one included):
 *   g ← g + wd·w;  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
 *   w ← w − lr · m̂ / (√v̂ + ε),  m̂ = m / (1−β1^t),  v̂ = v / (1−β2^t)
 * ε is added to √v̂ after the bias correction, as TF.js's AdamOptimizer (and the paper's Algorithm 1) do;
 * Keras in Python adds it to √v instead (ε̂ = ε·√(1−β2^t)), which differs only where √v̂ is near ε.
 * The constants are float32, as TF.js holds them; β^t is one float32 power of t (Keras's `pow(β, t)`), so it
 * depends on t alone and a resumed run continues the bias correction exactly. (TF.js multiplies an
 * accumulator by β every step instead; from t = 3 on that can differ in the last bit of 1−β^t.)
 * On wasm: one JS loop over heap views into fresh outputs, as sgdStep (see sgd.ts); elsewhere the same
 * formula as tf ops.
 */
import * as tf from '@tensorflow/tfjs';
import { type Heap, wasmHeap } from './heap.js';

export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** L2 weight decay added to the gradient (0: none). */
  decay: number;
  /** Updates so far, this one included (1 for the first). */
  t: number;
}

/** The float32 constants of one Adam step (shared by the wasm loop and the tf-ops fallback). */
function constants(h: AdamHyper): { b1: number; b2: number; c1: number; c2: number; one1: number; one2: number } {
  if (!(Number.isInteger(h.t) && h.t >= 1)) throw new RangeError(`adamStep: t must be an integer ≥ 1, got ${h.t}`);
  const b1 = Math.fround(h.beta1);
  const b2 = Math.fround(h.beta2);
  return {
    b1,
    b2,
    one1: Math.fround(1 - h.beta1),
    one2: Math.fround(1 - h.beta2),
    // 1 − β^t in float32 (TF.js: `sub(1, accBeta)`).
    c1: Math.fround(1 - Math.fround(b1 ** h.t)),
    c2: Math.fround(1 - Math.fround(b2 ** h.t)),
  };
}

/** One Adam step of weights `w` with moments `m`, `v` and gradient `g`; returns new tensors (inputs untouched). */
export function adamStep(w: tf.Tensor, m: tf.Tensor, v: tf.Tensor, g: tf.Tensor, h: AdamHyper): { w: tf.Tensor; m: tf.Tensor; v: tf.Tensor } {
  const heap = wasmHeap();
  return heap ? adamLoop(heap, w, m, v, g, h) : adamOps(w, m, v, g, h);
}

/**
 * The wasm pass. (Kept apart from the tf-ops closure: constants a closure captures live in a context object,
 * and the loop would load them from it on every element.)
 */
function adamLoop(heap: Heap, w: tf.Tensor, m: tf.Tensor, v: tf.Tensor, g: tf.Tensor, h: AdamHyper): { w: tf.Tensor; m: tf.Tensor; v: tf.Tensor } {
  const { b1, b2, one1, one2, c1, c2 } = constants(h);
  const { epsilon: eps, decay } = h;
  // lr·m̂/(√v̂ + ε) with the bias corrections folded into two constants: one division and one root per value.
  // Intermediates stay doubles; m, v and w are rounded to float32 once, when stored.
  const lrOverC1 = h.lr / c1;
  const overC2 = 1 / c2;
  const wOut = heap.output(w.shape);
  const mOut = heap.output(w.shape);
  const vOut = heap.output(w.shape);
  const [w0, m0, v0, g0, w1, m1, v1] = [w, m, v, g, wOut, mOut, vOut].map((t) => heap.view(t)) as [
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
  ];
  const n = w0.length;
  for (let i = 0; i < n; i++) {
    const wi = w0[i]!;
    const gi = g0[i]! + decay * wi;
    const mi = b1 * m0[i]! + one1 * gi;
    const vi = b2 * v0[i]! + one2 * gi * gi;
    m1[i] = mi;
    v1[i] = vi;
    w1[i] = wi - (lrOverC1 * mi) / (Math.sqrt(vi * overC2) + eps);
  }
  return { w: heap.tensor(wOut), m: heap.tensor(mOut), v: heap.tensor(vOut) };
}

/** The same step as tf ops, op for op as TF.js's AdamOptimizer (other backends). */
function adamOps(w: tf.Tensor, m: tf.Tensor, v: tf.Tensor, g: tf.Tensor, h: AdamHyper): { w: tf.Tensor; m: tf.Tensor; v: tf.Tensor } {
  const { b1, b2, one1, one2, c1, c2 } = constants(h);
  return tf.tidy(() => {
    const grad = h.decay > 0 ? tf.add(g, tf.mul(w, h.decay)) : g;
    const m1 = tf.add(tf.mul(m, b1), tf.mul(grad, one1));
    const v1 = tf.add(tf.mul(v, b2), tf.mul(tf.square(grad), one2));
    const mHat = tf.div(m1, c1);
    const vHat = tf.div(v1, c2);
    const w1 = tf.add(tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), h.epsilon)), -h.lr), w);
    return { w: w1, m: m1, v: v1 };
  });
}
