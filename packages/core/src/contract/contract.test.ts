/**
 * The contract backend refuses what tfjs-node 4.22 refuses, with tfjs-node's message and the source of
 * the rule, takes the forms it takes, computes what cpu computes, and has only tfjs-node's kernels.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend.js';
import { CONTRACT_BACKEND } from './backend.js';
import { RULES, TFJS_NODE_KERNELS } from './rules.js';

beforeAll(async () => {
  await initBackend(CONTRACT_BACKEND, false);
});
afterAll(async () => {
  await tf.setBackend('cpu');
});

const x = () => tf.randomNormal([1, 6, 6, 2], 0, 1, 'float32', 1) as tf.Tensor4D;
const w = () => tf.randomNormal([3, 3, 2, 4], 0, 1, 'float32', 2) as tf.Tensor4D;
const run = (kernel: string, inputs: Record<string, tf.Tensor>, attrs: object) => tf.engine().runKernel(kernel, inputs, attrs as never) as tf.Tensor;
const rule = (source: string) => new RegExp(`\\[tfjs-node rule: ${source.replace(/[.()]/g, '\\$&')}`);

describe('the tfjs-node contract backend', () => {
  it('is a backend of its own: neither cpu nor wasm', () => {
    expect(tf.getBackend()).toBe(CONTRACT_BACKEND);
  });
  it('refuses numeric padding where tfjs-node does, naming the rule', () => {
    const notNumber = "TF Backend supports only 'valid' and 'same' padding while padding was NUMBER";
    expect(() => tf.conv2d(x(), w(), 1, 1)).toThrow(notNumber);
    expect(() => tf.conv2d(x(), w(), 1, 1)).toThrow(rule('tfjs-node/src/kernels/Conv2D.ts (conv2dImpl)'));
    expect(() => tf.fused.conv2d({ x: x(), filter: w(), strides: 1, pad: 1 })).toThrow(rule('tfjs-node/src/kernels/Conv2D.ts (conv2dImpl, which FusedConv2D.ts calls)'));
    const dy = tf.ones([1, 6, 6, 4]);
    expect(() => run('Conv2DBackpropFilter', { x: x(), dy }, { strides: [1, 1], pad: 1, dataFormat: 'NHWC', filterShape: [3, 3, 2, 4] })).toThrow(
      rule('tfjs-node/src/kernels/Conv2DBackpropFilter.ts'),
    );
    expect(() => tf.conv2dTranspose(dy as tf.Tensor4D, w(), [1, 6, 6, 2], 1, 1)).toThrow(rule('tfjs-node/src/kernels/Conv2DBackpropInput.ts'));
    expect(() => tf.maxPool(x(), 3, 1, 1)).toThrow(rule('tfjs-node/src/kernels/MaxPool.ts'));
    const y = tf.maxPool(x(), 3, 1, 'valid');
    expect(() => run('MaxPoolGrad', { dy: tf.onesLike(y), input: x(), output: y }, { filterSize: 3, strides: 1, pad: 1 })).toThrow(rule('tfjs-node/src/kernels/MaxPoolGrad.ts'));
  });
  it('refuses explicit padding where tfjs-node takes only VALID or SAME, and takes it for Conv2D', () => {
    const explicit: [[0, 0], [1, 1], [1, 1], [0, 0]] = [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ];
    expect(tf.conv2d(x(), w(), 1, explicit).shape).toEqual([1, 6, 6, 4]);
    expect(() => tf.conv2dTranspose(tf.ones([1, 6, 6, 4]) as tf.Tensor4D, w(), [1, 6, 6, 2], 1, explicit as never)).toThrow('padding was EXPLICIT');
  });
  it('takes valid, same and a numeric 0 (which TF.js calls VALID), and computes what cpu computes', async () => {
    const calls = () =>
      [tf.conv2d(x(), w(), 1, 'same'), tf.conv2d(x(), w(), 2, 'valid'), tf.conv2d(x(), w(), 1, 0), tf.maxPool(x(), 2, 2, 'same')].map((t) => Array.from(t.dataSync()));
    const got = calls();
    await tf.setBackend('cpu');
    const want = calls();
    await tf.setBackend(CONTRACT_BACKEND);
    expect(got).toEqual(want);
  });
  it('computes Conv2DBackpropFilter, the one kernel it does not take from cpu, as cpu does (to float32 rounding)', async () => {
    const filterGrad = (stride: number, pad: 'same' | 'valid') => {
      const dy = tf.randomNormal(tf.conv2d(x(), w(), stride, pad).shape, 0, 1, 'float32', 3);
      return Array.from(run('Conv2DBackpropFilter', { x: x(), dy }, { strides: [stride, stride], pad, dataFormat: 'NHWC', filterShape: [3, 3, 2, 4] }).dataSync());
    };
    const cases = [
      [1, 'same'],
      [2, 'valid'],
      [2, 'same'],
    ] as const;
    const got = cases.map(([s, p]) => filterGrad(s, p));
    await tf.setBackend('cpu');
    const want = cases.map(([s, p]) => filterGrad(s, p));
    await tf.setBackend(CONTRACT_BACKEND);
    got.forEach((g, k) => g.forEach((v, i) => expect(Math.abs(v - want[k]![i]!), `case ${k}, value ${i}`).toBeLessThan(1e-4 * (1 + Math.abs(want[k]![i]!)))));
  });
  it("refuses NCHW for the fused convolution and LRN outside cuDNN's limits (tfjs-node-gpu)", () => {
    const nchw = tf.randomNormal([1, 2, 6, 6]) as tf.Tensor4D;
    expect(() => tf.fused.conv2d({ x: nchw, filter: w(), strides: 1, pad: 'same', dataFormat: 'NCHW' })).toThrow("Node backend FusedConv2D does not support dataFormat:'NCHW'");
    const maps = tf.randomNormal([1, 2, 2, 20]) as tf.Tensor4D;
    expect(() => tf.localResponseNormalization(maps, 8, 2, 1e-4, 0.75)).toThrow(/cuDNN requires depth_radius in \[1, 7\], got: 8 .*lrn_op\.cc/);
    expect(() => tf.localResponseNormalization(maps, 2, 0, 1e-4, 0.75)).toThrow('cuDNN requires bias >= 1e-5');
    expect(tf.localResponseNormalization(maps, 2, 2, 1e-4, 0.75).shape).toEqual([1, 2, 2, 20]);
  });
  it("has tfjs-node's kernels and no others", () => {
    // cpu has MaxPoolWithArgmax and Conv2DBackpropFilter's cousins; tfjs-node registers no MaxPoolWithArgmax.
    expect(tf.getKernel('MaxPoolWithArgmax', 'cpu')).toBeDefined();
    expect(TFJS_NODE_KERNELS).not.toContain('MaxPoolWithArgmax');
    expect(() => tf.maxPoolWithArgmax(x(), 2, 2, 'valid')).toThrow(`'MaxPoolWithArgmax' not registered for backend '${CONTRACT_BACKEND}'`);
    const registered = new Set(tf.getKernelsForBackend(CONTRACT_BACKEND).map((k) => k.kernelName));
    expect([...registered].every((k) => TFJS_NODE_KERNELS.includes(k))).toBe(true);
    // Every kernel a rule is about exists on both.
    for (const r of RULES) expect(registered.has(r.kernel), r.kernel).toBe(true);
  });
});
