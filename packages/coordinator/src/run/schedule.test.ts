import { describe, expect, it } from 'vitest';
import { Schedule } from './schedule.js';

describe('Schedule', () => {
  it('plateau: divides by 10 after `patience` evaluations without improvement, at most max_drops times', () => {
    const s = new Schedule({ kind: 'plateau', factor: 0.1, patience: 2, max_drops: 2, min_delta: 0.01 }, 0.01);
    expect(s.observe(0.5)).toBeUndefined();
    expect(s.observe(0.4)).toBeUndefined(); // improved
    expect(s.observe(0.395)).toBeUndefined(); // less than min_delta better: stale 1
    expect(s.observe(0.41)).toBeCloseTo(0.001); // stale 2: drop
    expect(s.lr(5)).toBeCloseTo(0.001);
    expect(s.observe(0.5)).toBeUndefined();
    expect(s.observe(0.5)).toBeCloseTo(0.0001);
    expect(s.observe(0.5)).toBeUndefined();
    expect(s.observe(0.5)).toBeUndefined(); // no more than max_drops
    expect(s.state.drops).toBe(2);
    // the state carries over (checkpoints)
    const t = new Schedule({ kind: 'plateau', factor: 0.1, patience: 2, max_drops: 2, min_delta: 0.01 }, 0.01, s.state);
    expect(t.lr(0)).toBeCloseTo(0.0001);
    expect(t.state).toEqual(s.state);
  });

  it('step: times factor every `every` epochs; constant: the base rate', () => {
    const s = new Schedule({ kind: 'step', every: 30, factor: 0.1 }, 0.01);
    expect([0, 29, 30, 59, 60].map((e) => s.lr(e))).toEqual([0.01, 0.01, 0.01 * 0.1, 0.01 * 0.1, 0.01 * 0.1 ** 2]);
    expect(s.observe(0.9)).toBeUndefined();
    expect(new Schedule({ kind: 'constant' }, 0.02).lr(100)).toBe(0.02);
  });
});
