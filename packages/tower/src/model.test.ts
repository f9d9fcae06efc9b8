/**
 * The tower's slice in-process: it must not leak tensors across steps (a leak only shows on long runs), its
 * derived Wᵀ (wasm only) must stay W's exact transpose under either optimizer, other backends hold none,
 * and its state must round-trip.
 */
import { resolve } from 'node:path';
import { buildNet, CONTRACT_BACKEND, type Config, initBackend, loadConfig, type OptimizerSpec, planSplit } from '@alexnet/core';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { TowerModel } from './model.js';

beforeAll(async () => {
  await initBackend('wasm', false);
});

const tiny = (): Config => loadConfig(resolve(import.meta.dirname, '../../../test/fixtures/tiny.yaml'));
const ADAM: OptimizerSpec = { kind: 'adam', lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weight_decay: 0.0005 };
const withOptimizer = (config: Config, optimizer: OptimizerSpec): Config => ({ ...config, train: { ...config.train, optimizer } });
/** The model's private tensors: params[layer][param], state[slot][layer][param]. */
const internals = (m: TowerModel) => {
  const held = m as unknown as { params: tf.Tensor[][]; optimizer: { state: tf.Tensor[][][] } };
  return { params: held.params, state: held.optimizer.state };
};
const transposeOf = (a: tf.Tensor, b: tf.Tensor): void => expect(Array.from(tf.tidy(() => tf.transpose(a).dataSync()))).toEqual(Array.from(b.dataSync()));

/** `steps` training steps on a fixed batch (step indices from `first`). */
function train(model: TowerModel, steps: number, lr: number, first = 0, batch = 4): void {
  const image = { data: new Float32Array(batch * 12 * 12 * 3).map((_, i) => Math.sin(i * 0.37 + first)), shape: [batch, 12, 12, 3] };
  for (let step = first; step < first + steps; step++) {
    const [y] = model.forward(0, image, { training: true, seed: 1, step, sampleOffset: 0 });
    model.backward(0, [{ lo: 0, hi: y!.shape.at(-1)!, data: new Float32Array(y!.data.length).map((_, i) => 0.1 * Math.cos(i + step)) }]);
    model.update(lr, step);
  }
}

describe('TowerModel', () => {
  it('holds the same number of tensors after every training step and evaluation', () => {
    const config = tiny();
    const plan = planSplit(buildNet(config.net), 1);
    const model = new TowerModel(plan, 0, config);
    expect(plan.segments).toHaveLength(1);
    const batch = 4;
    const image = { data: new Float32Array(batch * 12 * 12 * 3).map((_, i) => Math.sin(i)), shape: [batch, 12, 12, 3] };
    const counts: number[] = [];
    for (let step = 0; step < 3; step++) {
      const [y] = model.forward(0, image, { training: true, seed: 1, step, sampleOffset: 0 });
      expect(y!.shape).toEqual([batch, 8]);
      const dx = model.backward(0, [{ lo: 0, hi: 8, data: new Float32Array(y!.data.length).fill(0.1) }]);
      expect(dx).toEqual([]); // the image gets no gradient
      model.update(0.01, step);
      model.forward(0, image, { training: false, seed: 1, step, sampleOffset: 0 });
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
  it.each(['sgd', 'adam'])("on a backend other than wasm holds no Wᵀ and trains to the wasm model's weights (%s)", async (kind) => {
    const config = kind === 'adam' ? withOptimizer(tiny(), ADAM) : tiny();
    const plan = planSplit(buildNet(config.net), 1);
    const lr = kind === 'adam' ? 0.01 : 0.05;
    const onWasm = new TowerModel(plan, 0, config);
    train(onWasm, 2, lr);
    await initBackend(CONTRACT_BACKEND, false);
    try {
      const plain = new TowerModel(plan, 0, config);
      const dense = plan.layers.flatMap((p, i) => (p.layer.spec.kind === 'dense' ? [i] : []));
      expect(dense.length).toBeGreaterThan(0);
      for (const i of dense) expect(internals(plain).params[i]).toHaveLength(2); // W and b, no derived copy
      train(plain, 2, lr);
      const got = plain.weights(true).tensors;
      const want = onWasm.weights(true).tensors;
      expect(got.map((t) => t.shape)).toEqual(want.map((t) => t.shape));
      // Other kernels, other rounding. Measured worst: 1.5e-8 with SGD, 2.0e-6 with Adam (its step lr·m̂/√v̂
      // magnifies rounding where v̂ is tiny); a wrong product would be off by a step's size, ~1e-2.
      let worst = 0;
      got.forEach((t, k) => t.data.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - want[k]!.data[j]!)))));
      expect(worst).toBeLessThan(1e-5);
      plain.dispose();
    } finally {
      await tf.setBackend('wasm');
      onWasm.dispose();
    }
  });
  it("with adam on wasm: Wᵀ, its m and its v stay exact transposes of W's, with no tensors leaked", () => {
    const config = withOptimizer(tiny(), ADAM);
    const model = new TowerModel(planSplit(buildNet(config.net), 1), 0, config);
    train(model, 1, 0.01);
    const count = tf.memory().numTensors;
    train(model, 3, 0.01, 1);
    expect(tf.memory().numTensors).toBe(count);
    const { params, state } = internals(model);
    expect(state).toHaveLength(2); // m, v
    const dense = params.map((ps, i) => (ps.length === 3 ? i : -1)).filter((i) => i >= 0);
    expect(dense.length).toBeGreaterThan(0);
    for (const i of dense) {
      for (const held of [params, ...state]) transposeOf(held[i]![0]!, held[i]![2]!);
      // The moments did move (so the transposes are of something).
      expect(tf.tidy(() => tf.max(tf.abs(state[1]![i]![0]!)).dataSync()[0]!)).toBeGreaterThan(0);
    }
    model.dispose();
  });
  it('with adam: weights(true) lists values, then m, then v, and load restores them (continuing exactly)', () => {
    const config = withOptimizer(tiny(), ADAM);
    const plan = planSplit(buildNet(config.net), 1);
    const a = new TowerModel(plan, 0, config);
    train(a, 3, 0.01);
    const saved = a.weights(true);
    const n = a.weights().params.length;
    expect(saved.params.map((p) => p.slot ?? 'value')).toEqual([...Array<string>(n).fill('value'), ...Array<string>(n).fill('m'), ...Array<string>(n).fill('v')]);
    // A fresh model (its own init, zero moments) loads them; then both take the same steps 3 and 4.
    const b = new TowerModel(plan, 0, withOptimizer(config, { ...ADAM }));
    const count = tf.memory().numTensors;
    b.load(
      saved.params,
      saved.tensors.map((t) => t.data.slice()),
    );
    expect(tf.memory().numTensors).toBe(count);
    expect(b.weights(true)).toEqual(saved);
    // Derived copies and their moments are derived again: exact transposes.
    const { params, state } = internals(b);
    for (const i of params.map((ps, i) => (ps.length === 3 ? i : -1)).filter((i) => i >= 0)) for (const held of [params, ...state]) transposeOf(held[i]![0]!, held[i]![2]!);
    train(a, 2, 0.01, 3);
    train(b, 2, 0.01, 3);
    expect(b.weights(true)).toEqual(a.weights(true));
    // An SGD layout (velocity) is refused, leaving the model as it was.
    const sgd = new TowerModel(plan, 0, tiny());
    const velocity = sgd.weights(true);
    expect(velocity.params.slice(n).every((p) => p.slot === 'velocity')).toBe(true);
    expect(() =>
      b.load(
        velocity.params,
        velocity.tensors.map((t) => t.data),
      ),
    ).toThrow(/^load: expected \d+ tensors \(values and m, v\), got \d+$/);
    expect(b.weights(true)).toEqual(a.weights(true));
    [a, b, sgd].forEach((m) => m.dispose());
  });
});
