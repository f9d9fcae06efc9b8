import { describe, expect, it } from 'vitest';
import { concatLastAxis, placeSlice, sliceLastAxis, sumPieces } from './index.js';

describe('exchange arithmetic', () => {
  it('concatenates and slices along the last axis', () => {
    const a = Float32Array.from([1, 2, 3, 4]); // [2 rows, 2]
    const b = Float32Array.from([5, 6]); // [2 rows, 1]
    const ab = concatLastAxis([a, b], 2);
    expect([...ab]).toEqual([1, 2, 5, 3, 4, 6]);
    expect([...sliceLastAxis(ab, 2, 1, 3)]).toEqual([2, 5, 4, 6]);
  });
  it('sums full and partial (halo) parts into a shard', () => {
    // shard [4, 8) with 2 rows; tower A sends all of it, tower B sends channels [4, 6) (a halo)
    const full = { lo: 4, hi: 8, data: Float32Array.from([1, 1, 1, 1, 2, 2, 2, 2]) };
    const halo = { lo: 4, hi: 6, data: Float32Array.from([10, 20, 30, 40]) };
    expect([...sumPieces([full, halo], 2, 4, 8)]).toEqual([11, 21, 1, 1, 32, 42, 2, 2]);
  });
  it('passes a lone full part through without copying', () => {
    const full = { lo: 0, hi: 2, data: Float32Array.from([1, 2]) };
    expect(sumPieces([full], 1, 0, 2)).toBe(full.data);
  });
  it("sums the overlap of wider parts (row-split partial sums cut to one tower's range)", () => {
    // two towers' partials over 3 columns, 2 rows; tower 1 reads columns [1, 3)
    const a = { lo: 0, hi: 3, data: Float32Array.from([1, 2, 3, 4, 5, 6]) };
    const b = { lo: 0, hi: 3, data: Float32Array.from([10, 20, 30, 40, 50, 60]) };
    expect([...sumPieces([a, b], 2, 1, 3)]).toEqual([22, 33, 55, 66]);
  });
  it('places a slice of any axis into the full tensor', () => {
    const full = new Float32Array(12); // [3, 4]
    placeSlice(full, [3, 4], 0, 1, 3, Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8])); // rows 1..2
    placeSlice(full, [3, 4], 1, 0, 1, Float32Array.from([9, 9, 9])); // column 0
    expect([...full]).toEqual([9, 0, 0, 0, 9, 2, 3, 4, 9, 6, 7, 8]);
    expect(() => placeSlice(full, [3, 4], 1, 0, 2, Float32Array.from([1]))).toThrow(/needs 6 values/);
  });
  it('sums into a given array, whatever it held before', () => {
    const a = { lo: 0, hi: 3, data: Float32Array.from([1, 2, 3, 4, 5, 6]) };
    const b = { lo: 0, hi: 3, data: Float32Array.from([10, 20, 30, 40, 50, 60]) };
    const into = new Float32Array(4).fill(99);
    expect(sumPieces([a, b], 2, 1, 3, into)).toBe(into);
    expect([...into]).toEqual([22, 33, 55, 66]);
    const whole = new Float32Array(6).fill(99);
    sumPieces([a, b], 2, 0, 3, whole);
    expect([...whole]).toEqual([11, 22, 33, 44, 55, 66]);
    expect(() => sumPieces([a, b], 2, 0, 3, new Float32Array(5))).toThrow(/a sum of 2×3 into 5 values/);
  });
  it('refuses a part of the wrong size', () => {
    const bad = { lo: 0, hi: 2, data: Float32Array.from([1, 2, 3]) };
    expect(() => sumPieces([bad, bad], 2, 0, 2)).toThrow(/expected 4/);
  });
});
