import { describe, expect, it } from 'vitest';
import { type Loader, memoryStore, type Source } from '../data/index.js';
import type { Session } from '../towers/session.js';
import { averageViews, evaluate, rankOf, softmaxRows } from './evaluate.js';

describe('evaluation', () => {
  it("averages each image's views, and ranks the true class", () => {
    const probs = Float64Array.of(0.2, 0.8, 0.6, 0.4, /* image 2 */ 1, 0, 0, 1);
    expect([...averageViews(probs, 2, 2)].map((x) => Number(x.toFixed(12)))).toEqual([0.4, 0.6, 0.5, 0.5]);
    const p = softmaxRows(Float32Array.of(1, 3, 2, 0, 0), 5);
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expect([0, 1, 2, 3, 4].map((k) => rankOf(p, 0, 5, k))).toEqual([2, 0, 1, 4, 4]); // a tie counts against the label
  });

  it('10-crop top-1 follows the softmax averaged over the ten views, not the centre crop or a vote', async () => {
    // 3 images of class 1. A fake session: views 0-3 (corners) say class 1 with p ≈ 1; views 4-9 (centre
    // and the mirrored views) say class 0 with p ≈ 0.6. Averaged: p(1) ≈ 0.64 → right; centre or vote: wrong.
    const classes = 2;
    const calls: number[] = [];
    const session = {
      infer: async (images: Float32Array, n: number) => {
        calls.push(n);
        expect(images.length).toBe(n * 4);
        const logits = new Float32Array(n * classes);
        for (let r = 0; r < n; r++) logits.set(r % 10 < 4 ? [0, 20] : [Math.log(0.6), Math.log(0.4)], r * classes);
        return logits;
      },
    } as unknown as Session;
    const loader = { batch: async (_s: string, idx: Uint32Array, mode: string) => new Float32Array(idx.length * (mode === 'ten' ? 10 : 1) * 4) } as unknown as Loader;
    const store = memoryStore([3, 3, 1], 'float32', new Float32Array(27), Int32Array.of(1, 1, 1));
    const source: Source = { name: 't', classes, classNames: ['a', 'b'], train: store, test: store, skipped: [] };
    const ten = await evaluate(session, loader, source, 20, 10, 3);
    expect(calls).toEqual([20, 10]); // two images (20 views) per forward, then the last image
    expect(ten.top1_error).toBe(0);
    expect(ten.top5_error).toBe(0);
    calls.length = 0;
    // one crop: one view an image, row r is image r; the fake says class 1 (right) for rows 0-3
    const one = await evaluate(session, loader, source, 20, 1);
    expect(calls).toEqual([3]);
    expect(one).toMatchObject({ crops: 1, images: 3, top1_error: 0 });
    expect(one.loss).toBeLessThan(1e-6);
  });
});
