import { describe, expect, it } from 'vitest';
import { convPadding, namedPadding, samePadding } from './padding.js';

describe('samePadding', () => {
  it('pads as TensorFlow does: the odd one after', () => {
    expect(samePadding(27, 5, 1)).toEqual([2, 2]); // conv2
    expect(samePadding(13, 3, 1)).toEqual([1, 1]); // conv3-5
    expect(samePadding(8, 3, 2)).toEqual([0, 1]);
    expect(samePadding(227, 11, 4)).toEqual([4, 4]); // so conv1 (no padding) is not SAME
    expect(samePadding(4, 1, 1)).toEqual([0, 0]);
  });
});

describe('namedPadding', () => {
  it("names the paper's paddings", () => {
    expect(namedPadding([227, 227], [11, 11], 4, 0)).toBe('valid'); // conv1
    expect(namedPadding([27, 27], [5, 5], 1, 2)).toBe('same'); // conv2
    expect(namedPadding([13, 13], [3, 3], 1, 1)).toBe('same'); // conv3-5
  });
  it('gives up where SAME pads otherwise', () => {
    expect(namedPadding([8, 8], [3, 3], 2, 1)).toBeUndefined(); // SAME pads 0 before, 1 after
    expect(namedPadding([6, 6], [3, 3], 1, 2)).toBeUndefined(); // more than SAME
    expect(namedPadding([6, 7], [3, 3], 2, 1)).toBeUndefined(); // one axis would do, the other not
  });
});

describe('convPadding', () => {
  it('is explicit where no name fits', () => {
    expect(convPadding([8, 8], [3, 3], 2, 1)).toEqual([
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ]);
    expect(convPadding([27, 27], [5, 5], 1, 2)).toBe('same');
  });
});
