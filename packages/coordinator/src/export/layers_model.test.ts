import { describe, expect, it } from 'vitest';
import { blockDiagonal, channelMajorOrder, convPadding, permuteRows } from './layers_model.js';

describe('export shape arithmetic', () => {
  it('blockDiagonal: output group g reads input group g, zeros elsewhere (dense [In/G, U])', () => {
    // 2 groups, 2 inputs a group, 4 units: group 0 = units 0-1 (rows 0-1), group 1 = units 2-3 (rows 2-3).
    const w = { shape: [2, 4], data: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]) };
    const e = blockDiagonal(w, 2);
    expect(e.shape).toEqual([4, 4]);
    expect([...e.data]).toEqual([1, 2, 0, 0, 5, 6, 0, 0, 0, 0, 3, 4, 0, 0, 7, 8]);
  });
  it('blockDiagonal: conv [kh, kw, Cin/G, Cout], per kernel position', () => {
    const w = { shape: [1, 2, 1, 2], data: Float32Array.from([1, 2, 3, 4]) };
    const e = blockDiagonal(w, 2);
    expect(e.shape).toEqual([1, 2, 2, 2]);
    expect([...e.data]).toEqual([1, 0, 0, 2, 3, 0, 0, 4]);
    expect(blockDiagonal(w, 1)).toBe(w);
  });
  it('channelMajorOrder: Keras flat index (h·W + w)·C + c holds our c·H·W + h·W + w', () => {
    const order = channelMajorOrder(2, 3, 2);
    expect(order[(1 * 3 + 2) * 2 + 1]).toBe(1 * 6 + 1 * 3 + 2);
    expect(new Set(order).size).toBe(12);
    const m = { shape: [3, 2], data: Float32Array.from([0, 1, 10, 11, 20, 21]) };
    expect([...permuteRows(m, Uint32Array.from([2, 0, 1])).data]).toEqual([20, 21, 0, 1, 10, 11]);
  });
  it('convPadding: same only for stride 1 and pad (size − 1) / 2', () => {
    expect(convPadding(5, 1, 2)).toBe('same');
    expect(convPadding(11, 4, 0)).toBe('valid');
    expect(convPadding(3, 2, 1)).toBe('zero-pad');
    expect(convPadding(5, 1, 1)).toBe('zero-pad');
  });
});
