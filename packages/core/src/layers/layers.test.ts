/**
 * Every layer kind against a reference: forward against plain TF.js ops, backward against tf.grad of
 * the same reference. The reference runs on the cpu backend (pure JS, TF.js's own gradients). Ours runs on
 * wasm with our Conv2DBackpropFilter kernel, so the kernel is checked against an independent one; and on
 * the tfjs-node contract backend, where every kernel call must be one tfjs-node takes and every branch
 * for native backends runs (native LRN and max-pool gradients, the plain dense layout).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend.js';
import { CONTRACT_BACKEND } from '../contract/backend.js';
import { convOp } from './conv.js';
import { denseOp } from './dense.js';
import { dropoutMask, dropoutOp } from './dropout.js';
import { flattenOp } from './flatten.js';
import { lrnOp } from './lrn.js';
import { maxPoolOp } from './maxpool.js';
import { reluOp } from './relu.js';
import type { LayerOp, StepContext } from './types.js';

const ctx: StepContext = { training: true, seed: 3, step: 5, sampleOffset: 0 };
/** The backend the layers under test run on. */
let under = 'wasm';

interface Case {
  x: number[];
  xShape: number[];
  params: { data: number[]; shape: number[] }[];
  dy: number[];
}

/** Random inputs, fixed by a seed, as plain arrays (valid on any backend). */
function makeCase(xShape: number[], paramShapes: number[][], yShape: number[], seed: number): Case {
  const arr = (shape: number[], s: number, scale = 1) => Array.from(tf.randomNormal(shape, 0, scale, 'float32', s).dataSync());
  return {
    x: arr(xShape, seed),
    xShape,
    params: paramShapes.map((shape, i) => ({ data: arr(shape, seed + 10 + i, 0.3), shape })),
    dy: arr(yShape, seed + 99),
  };
}

/** Reference forward and gradients (x, then params) on the cpu backend with tf.grads. */
async function reference(c: Case, yShape: number[], f: (x: tf.Tensor, ps: tf.Tensor[]) => tf.Tensor) {
  await tf.setBackend('cpu');
  const x = tf.tensor(c.x, c.xShape);
  const ps = c.params.map((p) => tf.tensor(p.data, p.shape));
  const dy = tf.tensor(c.dy, yShape);
  const y = f(x, ps);
  const grads = tf.grads((...args: tf.Tensor[]) => tf.sum(tf.mul(f(args[0]!, args.slice(1)), dy)))([x, ...ps]);
  const out = { y: Array.from(y.dataSync()), yShape: y.shape, grads: grads.map((g) => Array.from(g.dataSync())) };
  await tf.setBackend(under);
  return out;
}

/** Ours on the backend under test: forward, then backward from what forward saved. */
function ours(op: LayerOp, c: Case, yShape: number[], needDx = true) {
  const x = tf.tensor(c.x, c.xShape);
  const given = c.params.map((p) => tf.tensor(p.data, p.shape));
  const ps = op.derive ? [...given, ...op.derive(given)] : given;
  const { y, saved } = op.forward(x, ps, ctx);
  const { dx, grads } = op.backward(tf.tensor(c.dy, yShape), saved, ps, { dx: needDx });
  return { y: Array.from(y.dataSync()), yShape: y.shape, grads: [dx, ...grads].map((g) => (g ? Array.from(g.dataSync()) : undefined)) };
}

function expectClose(a: number[] | undefined, b: number[], tol: number, what: string) {
  expect(a, what).toBeDefined();
  expect(a!.length, what).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a![i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  expect(worst, `${what}: worst relative error`).toBeLessThan(tol);
}

async function check(op: LayerOp, c: Case, yShape: number[], f: (x: tf.Tensor, ps: tf.Tensor[]) => tf.Tensor, tol = 2e-5) {
  const ref = await reference(c, yShape, f);
  const got = ours(op, c, yShape);
  expect(got.yShape).toEqual(ref.yShape);
  expectClose(got.y, ref.y, tol, 'forward');
  ref.grads.forEach((g, i) => expectClose(got.grads[i], g, tol, i === 0 ? 'dx' : `dparam${i - 1}`));
}

const grouped = (x: tf.Tensor, groups: number, f: (xi: tf.Tensor, g: number) => tf.Tensor) =>
  groups === 1 ? f(x, 0) : tf.concat(tf.split(x, groups, x.rank - 1).map(f), x.rank - 1);

beforeAll(async () => {
  await initBackend(CONTRACT_BACKEND, false);
  await initBackend('wasm', false);
});

describe.each(['wasm', CONTRACT_BACKEND])('on %s', (backend) => {
  beforeAll(async () => {
    under = backend;
    await tf.setBackend(backend);
  });

  describe('conv', () => {
    for (const [stride, pad, groups, size, hw] of [
      [1, 1, 1, 3, 7], // 'same'
      [1, 2, 2, 5, 9], // 'same', grouped (conv2's padding)
      [4, 0, 1, 11, 31], // conv1's geometry, small: 'valid'
      [2, 1, 1, 3, 8], // stride 2 with padding: rows the stride skips; neither 'same' nor 'valid'
      [1, 2, 1, 3, 6], // more padding than 'same': explicit forward, padded input backward
      [2, 2, 2, 5, 11], // strided, padded, grouped
    ] as const) {
      it(`matches tf.grad: stride ${stride}, pad ${pad}, groups ${groups}, ${size}×${size} on ${hw}×${hw}`, async () => {
        const ci = 4 * groups;
        const co = 6 * groups;
        const o = Math.floor((hw + 2 * pad - size) / stride) + 1;
        const yShape = [2, o, o, co];
        const c = makeCase([2, hw, hw, ci], [[size, size, ci / groups, co], [co]], yShape, 7 + stride + groups);
        const ref = (x: tf.Tensor, [w, b]: tf.Tensor[]) => {
          const ws = groups === 1 ? [w!] : tf.split(w!, groups, 3);
          return tf.add(
            grouped(x, groups, (xi, g) => tf.conv2d(xi as tf.Tensor4D, ws[g] as tf.Tensor4D, stride, pad)),
            b!,
          );
        };
        await check(convOp({ stride, pad, groups }), c, yShape, ref);
      });
    }
    it('skips the input gradient when asked (the image needs none)', () => {
      const c = makeCase([1, 5, 5, 2], [[3, 3, 2, 3], [3]], [1, 3, 3, 3], 1);
      expect(ours(convOp({ stride: 1, pad: 0, groups: 1 }), c, [1, 3, 3, 3], false).grads[0]).toBeUndefined();
    });
  });

  describe('dense', () => {
    for (const groups of [1, 2]) {
      it(`matches tf.grad with ${groups} group(s)`, async () => {
        const yShape = [3, 8];
        const c = makeCase([3, 10], [[10 / groups, 8], [8]], yShape, 11 + groups);
        const ref = (x: tf.Tensor, [w, b]: tf.Tensor[]) => {
          const ws = groups === 1 ? [w!] : tf.split(w!, groups, 1);
          return tf.add(
            grouped(x, groups, (xi, g) => tf.matMul(xi as tf.Tensor2D, ws[g] as tf.Tensor2D)),
            b!,
          );
        };
        await check(denseOp(groups), c, yShape, ref);
      });
    }
    it.runIf(backend === 'wasm')('keeps its transposed weight copy exact: dWᵀ is bit for bit the transpose of dW', () => {
      const c = makeCase([16, 40], [[20, 24], [24]], [16, 24], 5);
      const got = ours(denseOp(2), c, [16, 24]);
      const [dw, , dwT] = got.grads.slice(1) as number[][];
      expect(dwT!.length).toBe(dw!.length);
      // dW is [20, 24]; dWᵀ [24, 20]
      for (let i = 0; i < 20; i++) for (let u = 0; u < 24; u++) expect(dwT![u * 20 + i]).toBe(dw![i * 24 + u]);
    });
    it.runIf(backend !== 'wasm')('keeps no transposed copy where XNNPACK is not there to want one', () => {
      expect(denseOp(2).derive).toBeUndefined();
    });
  });

  describe('lrn', () => {
    const a = { size: 5, k: 2, alpha: 1e-2, beta: 0.75 }; // a large alpha so the normaliser matters
    for (const groups of [1, 2]) {
      it(`matches tf.grad with ${groups} group(s)`, async () => {
        const shape = [2, 3, 3, 8];
        const c = makeCase(shape, [], shape, 21 + groups);
        const ref = (x: tf.Tensor) => grouped(x, groups, (xi) => tf.localResponseNormalization(xi as tf.Tensor4D, 2, a.k, a.alpha, a.beta));
        await check(lrnOp({ ...a, groups }), c, shape, ref);
      });
    }
    it("matches tf.grad on a slice wider than the band GEMM takes (the backend's LRN kernels, 2 groups)", async () => {
      const shape = [1, 2, 2, 132];
      const c = makeCase(shape, [], shape, 51);
      const ref = (x: tf.Tensor) => grouped(x, 2, (xi) => tf.localResponseNormalization(xi as tf.Tensor4D, 2, a.k, a.alpha, a.beta));
      await check(lrnOp({ ...a, groups: 2 }), c, shape, ref);
    });
    for (const beta of [0.5, 0.6]) {
      it(`matches tf.grad with β = ${beta} (the paper's 0.75 has its own fast path)`, async () => {
        const shape = [2, 3, 3, 8];
        const c = makeCase(shape, [], shape, 41);
        const ref = (x: tf.Tensor) => tf.localResponseNormalization(x as tf.Tensor4D, 1, 1, 0.05, beta);
        await check(lrnOp({ size: 3, k: 1, alpha: 0.05, beta, groups: 1 }), c, shape, ref);
      });
    }
    it('with a halo: keeps its own maps and returns the gradient for the whole halo', async () => {
      // A group of 8 maps split over two towers; this tower keeps [4, 8) and reads [2, 8).
      const xShape = [2, 3, 3, 6];
      const yShape = [2, 3, 3, 4];
      const c = makeCase(xShape, [], yShape, 31);
      // Reference: LRN over the tower's input [2, 8) — its kept maps [4, 8) only see maps 2..7, as in the full group.
      const ref = (x: tf.Tensor) => tf.slice(tf.localResponseNormalization(x as tf.Tensor4D, 2, a.k, a.alpha, a.beta), [0, 0, 0, 2], [2, 3, 3, 4]);
      await check(lrnOp({ ...a, groups: 1, keep: { offset: 2, width: 4 } }), c, yShape, ref);
    });
  });

  describe('maxpool', () => {
    it('matches tf.grad for overlapping 3/2 pooling', async () => {
      const c = makeCase([2, 7, 7, 3], [], [2, 3, 3, 3], 41);
      await check(maxPoolOp(3, 2), c, [2, 3, 3, 3], (x) => tf.maxPool(x as tf.Tensor4D, 3, 2, 'valid'));
    });
  });

  describe('relu', () => {
    it('matches tf.grad', async () => {
      const c = makeCase([4, 6], [], [4, 6], 51);
      await check(reluOp, c, [4, 6], (x) => tf.relu(x));
    });
  });

  describe('flatten', () => {
    it('is channel-major, so a channel shard is a contiguous run of the vector', async () => {
      const c = makeCase([2, 2, 3, 4], [], [2, 24], 61);
      await check(flattenOp([2, 3, 4]), c, [2, 24], (x) => tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [2, 24]));
      // Channels [2, 4) of the maps are elements [2·6, 4·6) of the vector.
      const y = flattenOp([2, 3, 4]).forward(tf.tensor(c.x, [2, 2, 3, 4]), [], ctx).y;
      const shard = flattenOp([2, 3, 4]).forward(tf.slice(tf.tensor(c.x, [2, 2, 3, 4]), [0, 0, 0, 2], [2, 2, 3, 2]), [], ctx).y;
      expect(Array.from(shard.dataSync())).toEqual(Array.from(tf.slice(y, [0, 12], [2, 12]).dataSync()));
    });
  });

  describe('dropout', () => {
    it('drops the same units whichever tower computes them', () => {
      const whole = dropoutMask([3, 8], { rate: 0.5, stream: 4, fullWidth: 8, offset: 0 }, ctx);
      const right = dropoutMask([3, 4], { rate: 0.5, stream: 4, fullWidth: 8, offset: 4 }, ctx);
      for (let b = 0; b < 3; b++) expect(Array.from(right.subarray(b * 4, b * 4 + 4))).toEqual(Array.from(whole.subarray(b * 8 + 4, b * 8 + 8)));
      const kept = whole.filter((v) => v > 0).length;
      expect(kept).toBeGreaterThan(4);
      expect(kept).toBeLessThan(20);
      expect(new Set(whole)).toEqual(new Set([0, 2]));
    });
    it('scales in training, passes through at test, and backward applies the same mask', () => {
      const op = dropoutOp({ rate: 0.5, stream: 4, fullWidth: 8, offset: 0 });
      const x = tf.ones([3, 8]);
      const { y, saved } = op.forward(x, [], ctx);
      const mask = dropoutMask([3, 8], { rate: 0.5, stream: 4, fullWidth: 8, offset: 0 }, ctx);
      expect(Array.from(y.dataSync())).toEqual(Array.from(mask));
      expect(Array.from(op.backward(tf.ones([3, 8]), saved, []).dx!.dataSync())).toEqual(Array.from(mask));
      expect(Array.from(op.forward(x, [], { ...ctx, training: false }).y.dataSync())).toEqual(Array(24).fill(1));
    });
  });
});
