import { describe, expect, it } from 'vitest';
import { formatPredictions } from './commands.js';
import { topK } from './predict.js';

describe('predict output', () => {
  it('topK: most probable first, ties by class index, names from the data set', () => {
    const top = topK(Float32Array.from([0.1, 0.4, 0.1, 0.4]), 3, ['a', 'b', 'c', 'd']);
    expect(top.map((t) => t.class)).toEqual(['b', 'd', 'a']);
    expect(topK(Float32Array.from([0.2, 0.8]), 5, ['x', 'y']).map((t) => t.index)).toEqual([1, 0]);
  });
  it('formatPredictions: the file, then rank, class and probability a line', () => {
    const text = formatPredictions([
      {
        file: 'cat.png',
        top: [
          { class: 'tabby', index: 3, probability: 0.75 },
          { class: 'lynx', index: 1, probability: 0.25 },
        ],
      },
    ]);
    expect(text.split('\n')).toEqual(['cat.png', '  rank  class  probability', '     1  tabby       0.7500', '     2  lynx        0.2500']);
  });
});
