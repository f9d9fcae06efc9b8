import { initBackend, normalAt } from '@alexnet/core';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { LocalResponseNormalization } from './lrn_layer.js';

/** b = a / (k + α·Σ a²)^β over the window of `size` maps, clipped to the map's group: plain loops. */
function reference(x: Float32Array, c: number, a: { size: number; k: number; alpha: number; beta: number; groups: number }): Float32Array {
  const per = c / a.groups;
  const r = (a.size - 1) / 2;
  return x.map((v, i) => {
    const ch = i % c;
    const lo = Math.max(Math.floor(ch / per) * per, ch - r);
    const hi = Math.min((Math.floor(ch / per) + 1) * per - 1, ch + r);
    let sum = 0;
    for (let j = lo; j <= hi; j++) sum += x[i - ch + j]! ** 2;
    return v / (a.k + a.alpha * sum) ** a.beta;
  });
}

describe('LocalResponseNormalization (the exported LRN layer)', () => {
  beforeAll(() => initBackend('wasm', false)); // the backend predict runs on
  // Large inputs, so α·Σa² is of order 1 and the window (and its group boundary) changes the result.
  const shape = [2, 3, 3, 8];
  const x = Float32Array.from({ length: 2 * 3 * 3 * 8 }, (_, i) => 40 * normalAt(5, 0, i));
  const args = { size: 5, k: 2, alpha: 1e-4, beta: 0.75 };

  for (const groups of [1, 2]) {
    it(`matches the paper's formula, each of ${groups} group(s) normalised over its own maps`, () => {
      const layer = new LocalResponseNormalization({ ...args, groups });
      const y = tf.tidy(() => (layer.apply(tf.tensor(x, shape)) as tf.Tensor).dataSync());
      const want = reference(x, 8, { ...args, groups });
      want.forEach((v, i) => expect(y[i]).toBeCloseTo(v, 4));
      const other = reference(x, 8, { ...args, groups: 3 - groups });
      expect(Math.max(...want.map((v, i) => Math.abs(v - other[i]!)))).toBeGreaterThan(1e-2);
    });
  }

  it('survives a model.json round trip (registered class, its config)', async () => {
    const model = tf.sequential({ layers: [new LocalResponseNormalization({ ...args, groups: 2, name: 'norm1', inputShape: [3, 3, 8] })] });
    const json = model.toJSON(null, false) as { config: { layers: { class_name: string; config: Record<string, unknown> }[] } };
    expect(json.config.layers[0]!.class_name).toBe('AlexnetLRN');
    expect(json.config.layers[0]!.config).toMatchObject({ ...args, groups: 2 });
    const loaded = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json, weightSpecs: [], weightData: new ArrayBuffer(0) }));
    const y = tf.tidy(() => (loaded.predict(tf.tensor(x, shape)) as tf.Tensor).dataSync());
    reference(x, 8, { ...args, groups: 2 }).forEach((v, i) => expect(y[i]).toBeCloseTo(v, 4));
  });
});
