/** The optimizer's one-pass update and in-place accumulation on wasm against the paper's formula. */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend.js';
import { accumulate, sgdStep } from './sgd.js';

beforeAll(async () => {
  await initBackend('wasm', false);
});

const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.7 + seed));

describe('sgdStep on the wasm heap', () => {
  it('computes v ← m·v − lr·(g + wd·w), w ← w + v into new tensors and leaves its inputs alone', () => {
    const [w, v, g] = [1, 2, 3].map((s) => values(50, s));
    const [tw, tv, tg] = [w, v, g].map((a) => tf.tensor(a!, [5, 10]));
    const out = sgdStep(tw!, tv!, tg!, 0.01, 0.9, 0.0005);
    const got = { w: out.w.dataSync(), v: out.v.dataSync() };
    for (let i = 0; i < 50; i++) {
      const step = Math.fround(0.9 * v![i]! - 0.01 * (g![i]! + 0.0005 * w![i]!));
      expect(got.v[i]).toBeCloseTo(step, 6);
      expect(got.w[i]).toBeCloseTo(w![i]! + step, 6);
    }
    expect(out.w.shape).toEqual([5, 10]);
    expect(Array.from(tw!.dataSync())).toEqual(Array.from(w!));
    expect(Array.from(tv!.dataSync())).toEqual(Array.from(v!));
  });
  it('accumulates gradients into the first one', () => {
    const a = tf.tensor(values(8, 1));
    const b = tf.tensor(values(8, 2));
    const before = tf.memory().numTensors;
    const sum = accumulate(a, b);
    expect(tf.memory().numTensors).toBe(before - 1); // b is disposed, a reused
    const want = values(8, 1).map((x, i) => x + values(8, 2)[i]!);
    Array.from(sum.dataSync()).forEach((x, i) => expect(x).toBeCloseTo(want[i]!, 6));
  });
});
