import { centreView, Loader, memoryStore, normalAt, RecordReader, render, renderBatch, type TransformSpec, tenViews, trainView } from '@alexnet/core';
import { describe, expect, it } from 'vitest';
import { computeStats } from './stats.js';

const plain = (stored: [number, number, number], out: [number, number, number], over: Partial<TransformSpec> = {}): TransformSpec => ({
  stored,
  out,
  dtype: 'float32',
  crop: false,
  flip: false,
  lighting: 0,
  mean: new Float32Array(stored[0] * stored[1] * stored[2]),
  scale: new Float32Array(stored[2]).fill(1),
  unit: 1,
  seed: 3,
  ...over,
});

/** A rotation of RGB space and variances along its axes: the covariance the synthetic set is drawn from. */
const axes = (() => {
  const a = [1, 1, 1].map((x) => x / Math.sqrt(3));
  const b = [1, -1, 0].map((x) => x / Math.sqrt(2));
  const c = [1, 1, -2].map((x) => x / Math.sqrt(6));
  return [a, b, c];
})();
const variances = [0.04, 0.01, 0.0025];

/** n images of 8×8 RGB pixels, each pixel mean + Σk √λk zk vk with zk ~ N(0, 1): covariance Σ λk vk vkᵀ. */
function knownCovariance(n: number) {
  const size = 8 * 8 * 3;
  const records = new Float32Array(n * size);
  for (let p = 0; p < n * 64; p++) {
    for (let c = 0; c < 3; c++) {
      let v = 0.5;
      for (let k = 0; k < 3; k++) v += Math.sqrt(variances[k]!) * normalAt(11, k, p) * axes[k]![c]!;
      records[p * 3 + c] = v;
    }
  }
  return memoryStore([8, 8, 3], 'float32', records, new Int32Array(n));
}

describe('PCA lighting noise', () => {
  const store = knownCovariance(400);
  const stats = computeStats(store, 400);

  it('finds the principal components of the data (eigenvectors and eigenvalues of a known covariance)', () => {
    const e = stats.eigen!;
    for (let k = 0; k < 3; k++) {
      const dot = Math.abs(e.vectors[k]!.reduce((a, x, c) => a + x * axes[k]![c]!, 0));
      expect(dot, `component ${k}`).toBeGreaterThan(0.999);
      expect(e.values[k]! / variances[k]!, `eigenvalue ${k}`).toBeCloseTo(1, 1);
    }
  });

  it('adds one RGB shift per image, Σ αk λk pk with αk ~ N(0, σ)', () => {
    const sigma = 0.1;
    const spec = plain([8, 8, 3], [8, 8, 3], { lighting: sigma, eigen: stats.eigen! });
    const reader = new RecordReader(store);
    const record = Float32Array.from(reader.read(0));
    const alphas: number[][] = [[], [], []];
    for (let key = 0; key < 2000; key++) {
      const out = new Float32Array(8 * 8 * 3);
      render(spec, record, trainView(spec, key), out, 0);
      const shift = [0, 1, 2].map((c) => out[c]! - record[c]!);
      // the same shift at every pixel
      for (let p = 0; p < 64; p++) for (let c = 0; c < 3; c++) expect(out[p * 3 + c]! - record[p * 3 + c]!).toBeCloseTo(shift[c]!, 5);
      // its coordinates along the data's components, divided by λk, are the αk
      for (let k = 0; k < 3; k++) alphas[k]!.push(stats.eigen!.vectors[k]!.reduce((a, v, c) => a + v * shift[c]!, 0) / stats.eigen!.values[k]!);
    }
    for (const a of alphas) {
      const mean = a.reduce((x, y) => x + y, 0) / a.length;
      const sd = Math.sqrt(a.reduce((x, y) => x + (y - mean) ** 2, 0) / a.length);
      expect(Math.abs(mean)).toBeLessThan(0.01);
      expect(sd / sigma).toBeCloseTo(1, 1);
    }
  });
});

describe('views', () => {
  // a 6×6 one-channel image whose pixel value is its position: y * 6 + x
  const stored: [number, number, number] = [6, 6, 1];
  const record = Float32Array.from({ length: 36 }, (_, p) => p);
  const spec = plain(stored, [4, 4, 1]);
  const cut = (v: ReturnType<typeof centreView>): number[] => {
    const out = new Float32Array(16);
    render(spec, record, v, out, 0);
    return [...out];
  };

  it('the ten test views are the four corners and the centre, then the same mirrored', () => {
    const views = tenViews(spec);
    expect(views.map((v) => cut(v)[0])).toEqual([0, 2, 12, 14, 7, 3, 5, 15, 17, 10]);
    // a mirrored view is its unmirrored twin with every row reversed
    const a = cut(views[4]!);
    const b = cut(views[9]!);
    for (let y = 0; y < 4; y++) expect(b.slice(y * 4, y * 4 + 4)).toEqual(a.slice(y * 4, y * 4 + 4).reverse());
  });

  it("draws of different samples are independent (a lighting α is not a function of another sample's crop)", () => {
    const eigen = {
      values: [1, 1, 1],
      vectors: [
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
      ],
    };
    const s = plain([14, 14, 3], [4, 4, 3], { crop: true, flip: true, lighting: 1, eigen });
    const corr = (xs: number[], ys: number[]): number => {
      const m = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
      const [mx, my] = [m(xs), m(ys)];
      const cov = m(xs.map((x, i) => (x - mx) * (ys[i]! - my)));
      return cov / Math.sqrt(m(xs.map((x) => (x - mx) ** 2)) * m(ys.map((y) => (y - my) ** 2)));
    };
    const keys = Array.from({ length: 3000 }, (_, k) => k);
    // |α| (a normal's magnitude is monotone in the first uniform it consumes) against another sample's draws
    const size = (k: number, c: number): number => Math.abs(trainView(s, k).shift![c]!);
    for (const other of [(k: number) => 2 * k + 1, (k: number) => k + 1, (k: number) => 3 * k + 2]) {
      const views = keys.map((k) => trainView(s, other(k)));
      for (const c of [0, 1, 2]) {
        const a = keys.map((k) => size(k, c));
        expect(
          Math.abs(
            corr(
              a,
              views.map((v) => v.y),
            ),
          ),
        ).toBeLessThan(0.06);
        expect(
          Math.abs(
            corr(
              a,
              views.map((v) => v.x),
            ),
          ),
        ).toBeLessThan(0.06);
        expect(
          Math.abs(
            corr(
              a,
              views.map((v) => (v.flip ? 1 : 0)),
            ),
          ),
        ).toBeLessThan(0.06);
      }
    }
  });

  it('random crops cover every position and flips happen about half the time; the same key gives the same view', () => {
    const s = plain(stored, [4, 4, 1], { crop: true, flip: true });
    const seen = new Set<string>();
    let flips = 0;
    for (let key = 0; key < 400; key++) {
      const v = trainView(s, key);
      expect(trainView(s, key)).toEqual(v);
      seen.add(`${v.y},${v.x}`);
      if (v.flip) flips++;
    }
    expect(seen.size).toBe(9);
    expect(flips / 400).toBeGreaterThan(0.4);
    expect(flips / 400).toBeLessThan(0.6);
  });

  it('subtracts the mean at the stored position and scales per channel', () => {
    const mean = Float32Array.from({ length: 36 }, (_, p) => p / 2);
    const out = new Float32Array(16);
    render(plain(stored, [4, 4, 1], { mean, scale: Float32Array.of(2) }), record, centreView(spec), out, 0);
    expect(out[0]).toBe(7); // (7 − 3.5) × 2
  });
});

describe('Loader', () => {
  it('worker threads make exactly the batches this thread would, whichever thread serves them', async () => {
    const store = knownCovariance(24);
    const stats = computeStats(store, 24);
    const spec = plain([8, 8, 3], [6, 6, 3], { crop: true, flip: true, lighting: 0.1, eigen: stats.eigen! });
    const loader = new Loader(store, store, spec, 2);
    try {
      const reader = new RecordReader(store);
      const jobs = [0, 1, 2, 3].map((b) => Uint32Array.from({ length: 6 }, (_, i) => (b * 6 + i * 5) % 24));
      const got = await Promise.all(jobs.map((idx, b) => loader.batch('train', idx, 'train', b * 6)));
      jobs.forEach((idx, b) => expect(got[b]).toEqual(renderBatch(reader, spec, idx, 'train', b * 6)));
      const ten = await loader.batch('test', jobs[0]!, 'ten');
      expect(ten.length).toBe(6 * 10 * 6 * 6 * 3);
      expect(ten).toEqual(renderBatch(reader, spec, jobs[0]!, 'ten'));
    } finally {
      await loader.close();
    }
  });
});
