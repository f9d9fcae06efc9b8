/** The tower's slice in-process: it must not leak tensors across steps (a leak only shows on long runs). */
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { buildNet, initBackend, loadConfig, planSplit } from '@alexnet/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { TowerModel } from './model.js';

beforeAll(async () => {
  await initBackend('wasm', false);
});

describe('TowerModel', () => {
  it('holds the same number of tensors after every training step and evaluation', () => {
    const config = loadConfig(resolve(import.meta.dirname, '../../../test/fixtures/tiny.yaml'));
    const plan = planSplit(buildNet(config.net), 1);
    const model = new TowerModel(plan, 0, config);
    expect(plan.segments).toHaveLength(1);
    const batch = 4;
    const image = { data: new Float32Array(batch * 12 * 12 * 3).map((_, i) => Math.sin(i)), shape: [batch, 12, 12, 3] };
    const counts: number[] = [];
    for (let step = 0; step < 3; step++) {
      const y = model.forward(0, [image], { training: true, seed: 1, step, sampleOffset: 0 });
      expect(y.shape).toEqual([batch, 8]);
      const { parts } = model.backward(0, { data: new Float32Array(y.data.length).fill(0.1), shape: y.shape });
      expect(parts).toEqual([]); // the image gets no gradient
      model.update(0.01);
      model.forward(0, [image], { training: false, seed: 1, step, sampleOffset: 0 });
      counts.push(tf.memory().numTensors);
    }
    expect(counts[1]).toBe(counts[0]);
    // Dense layers keep Wᵀ beside W for speed: after updates it must still be W's exact transpose.
    const params = (model as unknown as { params: tf.Tensor[][] }).params;
    const dense = plan.layers.map((p, i) => (p.layer.spec.kind === 'dense' ? params[i]! : undefined)).filter((p) => p !== undefined);
    expect(dense.length).toBeGreaterThan(0);
    for (const [w, , wT] of dense) expect(Array.from(tf.transpose(w!).dataSync())).toEqual(Array.from(wT!.dataSync()));
    expect(counts[2]).toBe(counts[0]);
    model.dispose();
  });
  it('derives Wᵀ afresh after each update on a backend that does not promise identical rounding (cpu)', async () => {
    await tf.setBackend('cpu');
    try {
      const config = loadConfig(resolve(import.meta.dirname, '../../../test/fixtures/tiny.yaml'));
      const model = new TowerModel(planSplit(buildNet(config.net), 1), 0, config);
      const image = { data: new Float32Array(2 * 12 * 12 * 3).map((_, i) => Math.cos(i)), shape: [2, 12, 12, 3] };
      for (let step = 0; step < 2; step++) {
        const y = model.forward(0, [image], { training: true, seed: 1, step, sampleOffset: 0 });
        model.backward(0, { data: new Float32Array(y.data.length).fill(0.1), shape: y.shape });
        model.update(0.05);
      }
      const params = (model as unknown as { params: tf.Tensor[][] }).params.filter((p) => p.length === 3);
      expect(params.length).toBeGreaterThan(0);
      for (const [w, , wT] of params) expect(Array.from(tf.transpose(w!).dataSync())).toEqual(Array.from(wT!.dataSync()));
      model.dispose();
    } finally {
      await tf.setBackend('wasm');
    }
  });
});
