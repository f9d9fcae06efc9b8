import type { Message } from '@alexnet/core';
import { describe, expect, it } from 'vitest';
import { checkActivation, checkGradient } from './replies.js';

const activation = (shapes: number[][]): Message<'activation'> => ({
  header: { v: 2, kind: 'activation', pass: 0, part: 1, ms: 0, tensors: shapes.map((shape) => ({ shape, dtype: 'float32' })) },
  tensors: shapes.map((s) => new Float32Array(s.reduce((a, b) => a * b, 1))),
});
const gradient = (sizes: number[]): Message<'gradient'> => ({
  header: { v: 2, kind: 'gradient', pass: 0, part: 0, ms: 0, tensors: sizes.map((n) => ({ shape: [n], dtype: 'float32' })) },
  tensors: sizes.map((n) => new Float32Array(n)),
});

describe('replies are checked against the plan', () => {
  it('accepts logits of the planned shape and names the tower otherwise', () => {
    expect(() => checkActivation(activation([[2, 4]]), 1, [2, 4])).not.toThrow();
    expect(() => checkActivation(activation([[2, 5]]), 1, [2, 4])).toThrow(/tower 1 sent logits \[2, 5\] for micro-batch 1, expected \[2, 4\]/);
    expect(() => checkActivation(activation([]), 0, [2, 4])).toThrow(/tower 0 sent logits \(no tensor\)/);
    expect(() =>
      checkActivation(
        activation([
          [2, 4],
          [2, 4],
        ]),
        0,
        [2, 4],
      ),
    ).toThrow(/expected \[2, 4\]/);
  });
  it('accepts the end of a backward with no tensor, and names a tower that sends one', () => {
    expect(() => checkGradient(gradient([]), 0)).not.toThrow();
    expect(() => checkGradient(gradient([12]), 1)).toThrow(/tower 1 sent 1 tensors with the end of micro-batch 0's backward, expected none/);
  });
});
