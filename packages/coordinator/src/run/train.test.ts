import { parseConfig } from '@alexnet/core';
import { describe, expect, it } from 'vitest';
import { stepsFor } from './train.js';

const layers = [{ kind: 'flatten' }, { kind: 'dense', units: 2 }];
const config = (train: object) => parseConfig({ net: { input: { height: 2, width: 2, channels: 1 }, classes: 2, layers }, train: { batch: 10, ...train } });
const ds = 105; // training images

describe('stepsFor', () => {
  it('prefers --steps, then --epochs, then train.steps, then train.epochs, else one epoch', () => {
    expect(stepsFor(config({ steps: 7, epochs: 3 }), ds, 5, 2)).toBe(5);
    expect(stepsFor(config({ steps: 7, epochs: 3 }), ds, undefined, 2)).toBe(20); // 105 images → 10 full batches
    expect(stepsFor(config({ steps: 7, epochs: 3 }), ds)).toBe(7);
    expect(stepsFor(config({ epochs: 3 }), ds)).toBe(30);
    expect(stepsFor(config({}), ds)).toBe(10);
  });
});
