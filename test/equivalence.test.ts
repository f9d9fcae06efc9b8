/**
 * The split computes the same function as the single tower: real tower processes over real ZeroMQ, the
 * same seed and batches, 1, 2 and 4 towers. With 4 towers each of the tiny net's two columns spans two
 * towers, so this also exercises the LRN-halo and split-group exchanges the plan derives.
 */
import { assemble, loadDataset, resolveConfig, Session } from '@alexnet/coordinator';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { fixture } from './helpers.js';

type Weights = Map<string, { shape: number[]; data: Float32Array }>;

// Float32 tolerance. Tower counts sum the same products in different orders (the coordinator adds the
// towers' partial input gradients; one tower adds them inside its convolution), so results agree to
// float32 rounding. Measured on this test (console.log of the diffs, 2026-11-28): max |Δw| 3e-8 for 2 and
// 4 towers, loss relative difference ≤ 5e-9. Dropping the LRN halo exchange (a real split bug) gives
// |Δw| 1.4e-4, so 1e-6 separates rounding from wrong arithmetic with a wide margin on both sides.
const WEIGHT_TOL = 1e-6;
const LOSS_TOL = 1e-6;

const config = resolveConfig({ config: fixture('tiny.yaml') });
const dataset = loadDataset(config);
const log = pino({ level: 'silent' });
const sessions: Session[] = [];

async function run(towers: number): Promise<{ initial: Weights; losses: number[]; final: Weights }> {
  const s = await Session.start({ config, devices: Array.from({ length: towers }, (_, i) => String(i)), backend: 'wasm', gpu: false, log });
  sessions.push(s);
  const initial = await s.fullWeights();
  const losses: number[] = [];
  for (let step = 0; step < 3; step++) {
    const idx = Array.from({ length: config.train.batch }, (_, i) => (step * config.train.batch + i) % dataset.train.count);
    const { images, labels } = assemble(dataset.train, dataset.shape, idx);
    losses.push((await s.trainStep(step, images, labels, config.train.optimizer.lr)).loss);
  }
  const final = await s.fullWeights();
  await s.close();
  return { initial, losses, final };
}

function maxDiff(a: Weights, b: Weights): number {
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  let worst = 0;
  for (const [k, v] of a) {
    const w = b.get(k)!;
    expect(w.shape, k).toEqual(v.shape);
    for (let i = 0; i < v.data.length; i++) worst = Math.max(worst, Math.abs(v.data[i]! - w.data[i]!));
  }
  return worst;
}

afterAll(() => sessions.forEach((s) => s.abort()));

describe('1, 2 and 4 towers compute the same training steps', () => {
  it('same initial weights, same loss at every step, same weights after 3 SGD steps', async () => {
    const one = await run(1);
    const two = await run(2);
    const four = await run(4);
    // The run must actually learn something for the comparison to mean anything.
    expect(maxDiff(one.initial, one.final)).toBeGreaterThan(1e-3);
    for (const other of [two, four]) {
      expect(maxDiff(one.initial, other.initial)).toBe(0);
      other.losses.forEach((l, i) => expect(Math.abs(l - one.losses[i]!) / one.losses[i]!, `loss at step ${i}`).toBeLessThan(LOSS_TOL));
      expect(maxDiff(one.final, other.final)).toBeLessThan(WEIGHT_TOL);
    }
  });
});
