/**
 * Deterministic synthetic images for tests, benchmarks and the paper net before real loaders: image i is
 * a class-dependent pattern plus noise, generated on demand from the counter-based RNG (nothing stored).
 */
import { normalAt } from '@alexnet/core';
import type { Dataset, Split } from './dataset.js';

export function loadSynthetic(shape: readonly [number, number, number], classes: number, train: number, test: number, seed = 0): Dataset {
  const size = shape[0] * shape[1] * shape[2];
  const split = (count: number, stream: number): Split => ({
    count,
    label: (i) => i % classes,
    image: (i, out, offset) => {
      const c = i % classes;
      for (let p = 0; p < size; p++) out[offset + p] = 0.5 * normalAt(seed, stream, i * size + p) + Math.sin((c + 1) * (p % 97) * 0.05);
    },
  });
  return { name: 'synthetic', shape, classes, classNames: Array.from({ length: classes }, (_, k) => `class${k}`), train: split(train, 101), test: split(test, 102) };
}
