/**
 * The split computes the same function as the single tower: real tower processes over real ZeroMQ, the
 * same seed and batches, 1, 2 and 4 towers. With 4 towers each of the tiny net's two columns spans two
 * towers, so this also exercises the LRN-halo and split-group exchanges the plan derives. All of it on
 * wasm and on the tfjs-node contract backend (the kernels and code paths of a native backend).
 */
import { openData, readBatch, resolveConfig, Session } from '@alexnet/coordinator';
import { type BackendChoice, buildNet, CONTRACT_BACKEND, type Config, planSplit } from '@alexnet/core';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { fixture, maxDiff } from './helpers.js';

type Weights = Map<string, { shape: number[]; data: Float32Array }>;

// Float32 tolerance. Tower counts sum the same products in different orders (the coordinator adds the
// towers' partial input gradients; one tower adds them inside its convolution), so results agree to
// float32 rounding. Measured on this test (console.log of the diffs, 2026-11-28): max |Δw| 3e-8 for 2 and
// 4 towers, loss relative difference ≤ 5e-9. Dropping the LRN halo exchange (a real split bug) gives
// |Δw| 1.4e-4, so 1e-6 separates rounding from wrong arithmetic with a wide margin on both sides.
const WEIGHT_TOL = 1e-6;
const LOSS_TOL = 1e-6;
// wasm (XNNPACK) against the contract backend (tfjs-backend-cpu's loops): other kernels, other summation
// orders. Measured (2026-12-01) on 2 towers: max |Δw| 1.5e-8, loss relative difference 4.4e-9.
const CROSS_WEIGHT_TOL = 1e-6;
const CROSS_LOSS_TOL = 1e-6;

const config = resolveConfig({ config: fixture('tiny.yaml') });
const data = await openData(config);
const log = pino({ level: 'silent' });
const sessions: Session[] = [];

type Split = 'auto' | 'column' | 'row';

/**
 * The tiny config with every dense layer split one way, and the batch cut into `micro` micro-batches.
 * `direct`: fc4 (8 → 4) feeds fc5 (4 → 8) with no ReLU or dropout between, so a row-split fc4's partial
 * sums go straight into fc5 (column-split under auto, reading every tower's range; or row-split too).
 */
function variant(split: Split, micro: number, direct = false): Config {
  let layers = config.net.layers.map((l) => (l.kind === 'dense' ? { ...l, split } : l));
  if (direct) layers = layers.filter((l) => l.name !== 'relu4' && l.name !== 'drop4').map((l) => (l.name === 'fc4' ? { ...l, units: 4 } : l));
  return { ...config, net: { ...config.net, layers }, train: { ...config.train, micro_batches: micro } };
}

type Result = { initial: Weights; losses: number[]; final: Weights };

async function runOn(backend: BackendChoice, towers: number, split: Split = 'auto', micro = 1, direct = false, peerTransport?: 'shm' | 'stream' | 'zmq'): Promise<Result> {
  const c = variant(split, micro, direct);
  const s = await Session.start({ config: c, devices: Array.from({ length: towers }, (_, i) => String(i)), backend, gpu: false, log, ...(peerTransport ? { peerTransport } : {}) });
  sessions.push(s);
  expect(s.readies.map((r) => r.backend)).toEqual(Array(towers).fill(backend));
  const initial = await s.fullWeights();
  const losses: number[] = [];
  for (let step = 0; step < 3; step++) {
    const idx = Array.from({ length: c.train.batch }, (_, i) => (step * c.train.batch + i) % data.source.train.count);
    const { images, labels } = readBatch(data, 'train', idx);
    losses.push((await s.trainStep(step, images, labels, c.train.optimizer.lr)).loss);
  }
  const final = await s.fullWeights();
  await s.close();
  return { initial, losses, final };
}

function expectSame(one: Result, other: Result, what: string): void {
  expect(maxDiff(one.initial, other.initial), `${what}: initial weights`).toBe(0);
  other.losses.forEach((l, i) => expect(Math.abs(l - one.losses[i]!) / one.losses[i]!, `${what}: loss at step ${i}`).toBeLessThan(LOSS_TOL));
  expect(maxDiff(one.final, other.final), `${what}: weights after 3 steps`).toBeLessThan(WEIGHT_TOL);
}

afterAll(() => sessions.forEach((s) => s.abort()));

describe.each(['wasm', CONTRACT_BACKEND] as const)('on %s', (backend) => {
  const run = (towers: number, split: Split = 'auto', micro = 1, direct = false): Promise<Result> => runOn(backend, towers, split, micro, direct);

  describe('1, 2 and 4 towers compute the same training steps', () => {
    it('same initial weights, same loss at every step, same weights after 3 SGD steps (auto dense splits)', async () => {
      const one = await run(1);
      // The run must actually learn something for the comparison to mean anything.
      expect(maxDiff(one.initial, one.final)).toBeGreaterThan(1e-3);
      // `auto` on the tiny net makes fc4 (8 → 16) column-split and fc5 (16 → 8) row-split: both kinds at once.
      const summary = (await import('@alexnet/coordinator')).summarize(planSplit(buildNet(config.net), 2));
      expect(summary.layers.filter((l) => l.split).map((l) => `${l.name}:${l.split}`)).toEqual(['fc4:column', 'fc5:row']);
      expectSame(one, await run(2), '2 towers');
      expectSame(one, await run(4), '4 towers');
    });
    for (const split of ['column', 'row'] as const) {
      it(`every dense layer ${split}-split, on 2 and 4 towers`, async () => {
        const one = await run(1, split);
        expectSame(one, await run(2, split), `2 towers, ${split}`);
        expectSame(one, await run(4, split), `4 towers, ${split}`);
      });
    }
    for (const split of ['auto', 'row'] as const) {
      it(`a row-split layer straight into another dense layer (${split === 'auto' ? 'row then column' : 'row then row'}), on 2 and 4 towers`, async () => {
        const one = await run(1, split, 1, true);
        expectSame(one, await run(2, split, 1, true), `2 towers, direct, ${split}`);
        expectSame(one, await run(4, split, 1, true), `4 towers, direct, ${split}`);
      });
    }
  });

  describe('pipelined micro-batches', () => {
    it('give the same weights as the unpipelined step (uneven micro-batches: 8 = 2 + 3 + 3)', async () => {
      const plain = await run(2, 'auto', 1);
      expectSame(plain, await run(2, 'auto', 3), '2 towers, 3 micro-batches');
      expectSame(plain, await run(4, 'auto', 3), '4 towers, 3 micro-batches');
      expectSame(plain, await run(1, 'auto', 4), '1 tower, 4 micro-batches');
    });
  });

  describe('the three kinds of peer links', () => {
    // the stream links read into reused buffers: on wasm and on a backend that keeps a tensor's values by
    // reference (the contract backend is tfjs-backend-cpu's kernels), every step must come out the same
    it('give the same steps, to the bit: 2 and 4 towers, 3 micro-batches', async () => {
      for (const towers of [2, 4]) {
        const zmq = await runOn(backend, towers, 'auto', 3, false, 'zmq');
        const stream = await runOn(backend, towers, 'auto', 3, false, 'stream');
        // every body through the shared files (the tiny net's are far below the usual 64 KiB floor)
        process.env.ALEXNET_SHM_MIN_BYTES = '1';
        const shm = await runOn(backend, towers, 'auto', 3, false, 'shm').finally(() => delete process.env.ALEXNET_SHM_MIN_BYTES);
        for (const [name, r] of [
          ['stream', stream],
          ['shm', shm],
        ] as const) {
          expect(r.losses, `${towers} towers, ${name}: losses`).toEqual(zmq.losses);
          expect(maxDiff(zmq.final, r.final), `${towers} towers, ${name}: weights after 3 steps`).toBe(0);
        }
      }
    });
  });
});

describe('across backends', () => {
  it('the contract backend trains the tiny net as wasm does: same initial weights, losses and weights to float32 rounding', async () => {
    const wasm = await runOn('wasm', 2);
    const contract = await runOn(CONTRACT_BACKEND, 2);
    expect(maxDiff(wasm.initial, contract.initial)).toBe(0);
    contract.losses.forEach((l, i) => expect(Math.abs(l - wasm.losses[i]!) / wasm.losses[i]!, `loss at step ${i}`).toBeLessThan(CROSS_LOSS_TOL));
    expect(maxDiff(wasm.final, contract.final)).toBeLessThan(CROSS_WEIGHT_TOL);
  });
});
