import { describe, expect, it } from 'vitest';
import { normalAt, permutation, uniformAt } from './rng.js';

describe('counter-based rng', () => {
  it('is a pure function of (seed, stream, index)', () => {
    expect(uniformAt(7, 3, 12345)).toBe(uniformAt(7, 3, 12345));
    expect(uniformAt(7, 3, 12345)).not.toBe(uniformAt(8, 3, 12345));
    expect(uniformAt(7, 3, 12345)).not.toBe(uniformAt(7, 4, 12345));
    expect(uniformAt(7, 3, 2 ** 33 + 5)).not.toBe(uniformAt(7, 3, 5));
  });
  it('gives standard normals (mean 0, variance 1 within sampling error of 1e5 draws)', () => {
    const n = 100_000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const v = normalAt(1, 0, i);
      s += v;
      s2 += v * v;
    }
    // Standard errors: mean 1/sqrt(n) ≈ 0.003, variance sqrt(2/n) ≈ 0.0045; 5 sigma bounds.
    expect(Math.abs(s / n)).toBeLessThan(0.016);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.023);
  });
  it('gives uniforms with the right mean', () => {
    let s = 0;
    for (let i = 0; i < 100_000; i++) s += uniformAt(2, 9, i);
    expect(Math.abs(s / 100_000 - 0.5)).toBeLessThan(0.005);
  });
  it('permutes', () => {
    const p = permutation(1000, 3);
    expect([...p].sort((a, b) => a - b)).toEqual([...Array(1000).keys()]);
    expect([...p.slice(0, 10)]).not.toEqual([...Array(10).keys()]);
  });
});
