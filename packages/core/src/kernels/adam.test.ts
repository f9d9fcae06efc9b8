/** adamStep against TF.js's own Adam (tf.train.adam) on the same tensors, on the wasm heap and on the tf-ops fallback (cpu). */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend.js';
import { adamStep } from './adam.js';

beforeAll(async () => {
  await initBackend('wasm', false);
});
afterAll(async () => {
  await tf.setBackend('wasm');
});

const values = (n: number, seed: number, scale = 1) => Float32Array.from({ length: n }, (_, i) => scale * Math.sin(i * 1.7 + seed));
/** max |a − b| / max |b|: relative to the tensor's scale (element-wise ratios blow up where m crosses 0). */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

const hyper = { lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };
const shape = [6, 20];
const n = 120;

describe.each(['wasm', 'cpu'])('adamStep on %s', (backend) => {
  beforeAll(async () => {
    await tf.setBackend(backend);
  });
  it.each([0, 0.01])('matches tf.train.adam over 3 steps (weight decay %s, as L2 on the gradient)', async (decay) => {
    expect(tf.getBackend()).toBe(backend);
    const w0 = values(n, 1);
    const grads = [2, 3, 4].map((s) => values(n, s, 0.1 * s));
    // TF.js's optimizer on a variable; its L2 is ours: the gradient it is given is g + wd·w.
    const ref = tf.variable(tf.tensor(w0, shape));
    const opt = tf.train.adam(hyper.lr, hyper.beta1, hyper.beta2, hyper.epsilon);
    let w: tf.Tensor = tf.tensor(w0, shape);
    let m: tf.Tensor = tf.zeros(shape);
    let v: tf.Tensor = tf.zeros(shape);
    for (let t = 1; t <= 3; t++) {
      const g = tf.tensor(grads[t - 1]!, shape);
      tf.tidy(() => opt.applyGradients([{ name: ref.name, tensor: decay > 0 ? tf.add(g, tf.mul(ref, decay)) : g }]));
      const before = tf.memory().numTensors;
      const out = adamStep(w, m, v, g, { ...hyper, decay, t });
      expect(tf.memory().numTensors).toBe(before + 3); // w', m', v' and no temporaries
      [w, m, v, g].forEach((x) => x.dispose());
      ({ w, m, v } = out);
    }
    const [, mRef, vRef] = (await opt.getWeights()).map((x) => x.tensor.dataSync());
    expect(relErr(m.dataSync(), mRef!)).toBeLessThanOrEqual(1e-6);
    expect(relErr(v.dataSync(), vRef!)).toBeLessThanOrEqual(1e-6);
    expect(relErr(w.dataSync(), ref.dataSync())).toBeLessThanOrEqual(1e-6);
    // The step did move the weights by about lr per step (so agreement means something).
    expect(relErr(w.dataSync(), w0)).toBeGreaterThan(1e-3);
    [w, m, v, ref].forEach((x) => x.dispose());
    opt.dispose();
  });
});

describe('adamStep', () => {
  it('leaves its inputs alone and writes new tensors of their shape (wasm)', async () => {
    await tf.setBackend('wasm');
    const [w, m, v, g] = [1, 2, 3, 4].map((s) => tf.tensor(values(12, s, s === 3 ? 0.5 : 1).map(Math.abs), [3, 4]));
    const copies = [w, m, v, g].map((t) => Array.from(t!.dataSync()));
    const out = adamStep(w!, m!, v!, g!, { ...hyper, decay: 0.001, t: 7 });
    expect(out.w.shape).toEqual([3, 4]);
    [w, m, v, g].forEach((t, k) => expect(Array.from(t!.dataSync())).toEqual(copies[k]));
    [out.w, out.m, out.v].forEach((t) => expect(t.dataId).not.toBe(w!.dataId));
    tf.dispose([w!, m!, v!, g!, out.w, out.m, out.v]);
  });
  it('refuses t < 1 (the first update is t = 1)', () => {
    const z = tf.zeros([2]);
    expect(() => adamStep(z, z, z, z, { ...hyper, decay: 0, t: 0 })).toThrow(/t must be an integer/);
    z.dispose();
  });
});
