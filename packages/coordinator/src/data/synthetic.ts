/**
 * Deterministic synthetic images for tests and benchmarks: image i is a class-dependent pattern plus noise,
 * from the counter-based RNG, so every run and every machine sees the same set.
 */
import { memoryStore, normalAt, type Source } from '@alexnet/core';

export function readSynthetic(shape: readonly [number, number, number], classes: number, train: number, test: number, seed = 0): Source {
  const size = shape[0] * shape[1] * shape[2];
  const store = (count: number, stream: number) => {
    const records = new Float32Array(count * size);
    for (let i = 0; i < count; i++) {
      const c = i % classes;
      for (let p = 0; p < size; p++) records[i * size + p] = 0.5 * normalAt(seed, stream, i * size + p) + Math.sin((c + 1) * (p % 97) * 0.05);
    }
    return memoryStore(
      shape,
      'float32',
      records,
      Int32Array.from({ length: count }, (_, i) => i % classes),
    );
  };
  return { name: 'synthetic', classes, classNames: Array.from({ length: classes }, (_, k) => `class${k}`), train: store(train, 101), test: store(test, 102), skipped: [] };
}
