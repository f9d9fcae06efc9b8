import type { Message } from '@alexnet/core';
import { describe, expect, it } from 'vitest';
import { checkActivation, checkGradient } from './replies.js';

const activation = (shapes: number[][]): Message<'activation'> => ({
  header: { v: 1, kind: 'activation', step: 0, segment: 1, part: 0, ms: 0, tensors: shapes.map((shape) => ({ shape, dtype: 'float32' })) },
  tensors: shapes.map((s) => new Float32Array(s.reduce((a, b) => a * b, 1))),
});
const gradient = (parts: unknown[], sizes: number[]): Message<'gradient'> => ({
  header: { v: 1, kind: 'gradient', step: 0, segment: 1, part: 0, ms: 0, parts: parts as never, tensors: sizes.map((n) => ({ shape: [n], dtype: 'float32' })) },
  tensors: sizes.map((n) => new Float32Array(n)),
});

describe('replies are checked against the plan', () => {
  it('accepts an activation of the planned shape and names the tower otherwise', () => {
    expect(() => checkActivation(activation([[2, 4]]), 1, [2, 4])).not.toThrow();
    expect(() => checkActivation(activation([[2, 5]]), 1, [2, 4])).toThrow(/tower 1 sent activation \[2, 5\] for segment 1, expected \[2, 4\]/);
    expect(() => checkActivation(activation([]), 0, [2, 4])).toThrow(/tower 0 sent activation \(no tensor\)/);
    expect(() => checkActivation(activation([[2, 4], [2, 4]]), 0, [2, 4])).toThrow(/expected \[2, 4\]/);
  });
  it('accepts well-formed gradient parts and rejects each kind of bad one', () => {
    // rows 3, input width 8, 2 towers
    expect(() => checkGradient(gradient([{ shard: 1, lo: 4, hi: 8 }], [12]), 0, 2, 8, 3, false)).not.toThrow();
    const cases: [unknown[], number[], RegExp][] = [
      [[{ shard: 1, lo: 4, hi: 8 }], [], /1 parts but 0 tensors/],
      [[{ shard: 2, lo: 4, hi: 8 }], [12], /not a shard of 2/],
      [[{ shard: 1, lo: 4, hi: 9 }], [15], /range within 8/],
      [[{ shard: 1, lo: 4, hi: 4 }], [0], /range within 8/],
      [[null], [12], /part 0 null/],
      [[{ shard: 1, lo: 4, hi: 8 }], [11], /holds 11 values, expected 12/],
    ];
    for (const [parts, sizes, msg] of cases) expect(() => checkGradient(gradient(parts, sizes), 1, 2, 8, 3, false)).toThrow(msg);
    expect(() => checkGradient(gradient([{ shard: 0, lo: 0, hi: 4 }], [12]), 1, 2, 8, 3, true)).toThrow(/the image needs no gradient/);
  });
});
