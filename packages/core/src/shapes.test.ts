import { describe, expect, it } from 'vitest';
import { rangeContains, rangeIntersect, shardRange, windowOutputLength } from './shapes.js';

describe('windowOutputLength', () => {
  it('gives the paper sizes', () => {
    expect(windowOutputLength(227, 11, 4, 0)).toBe(55); // conv1
    expect(windowOutputLength(55, 3, 2, 0)).toBe(27); // pool1, overlapping
    expect(windowOutputLength(27, 5, 1, 2)).toBe(27); // conv2
    expect(windowOutputLength(27, 3, 2, 0)).toBe(13); // pool2
    expect(windowOutputLength(13, 3, 2, 0)).toBe(6); // pool5
    expect(windowOutputLength(224, 11, 4, 0)).toBe(54); // the article's 224 input
  });
  it('refuses a window larger than the padded input', () => {
    expect(() => windowOutputLength(2, 3, 1, 0)).toThrow(/does not fit/);
  });
});

describe('ranges', () => {
  it('shards evenly and refuses uneven splits', () => {
    expect(shardRange(96, 1, 2)).toEqual({ lo: 48, hi: 96 });
    expect(() => shardRange(10, 0, 4)).toThrow(/evenly/);
  });
  it('intersects and contains', () => {
    expect(rangeIntersect({ lo: 0, hi: 5 }, { lo: 3, hi: 9 })).toEqual({ lo: 3, hi: 5 });
    expect(rangeIntersect({ lo: 0, hi: 3 }, { lo: 3, hi: 9 })).toBeUndefined();
    expect(rangeContains({ lo: 0, hi: 9 }, { lo: 3, hi: 9 })).toBe(true);
    expect(rangeContains({ lo: 4, hi: 9 }, { lo: 3, hi: 9 })).toBe(false);
  });
});
