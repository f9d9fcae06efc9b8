/**
 * What normalisation and lighting noise need from the training set: the mean image, the per-channel mean
 * and spread, and the principal components of its RGB values (the paper's "PCA on the set of RGB pixel
 * values throughout the ImageNet training set"). Computed over an evenly spaced sample of at most `limit`
 * images, and cached beside the decoded images when the source has a cache directory.
 *
 * The PCA is of RGB values in [0, 1] (stored uint8 values / 255), as fb.resnet.torch reproduces the paper:
 * α·λ is not scale-free (λ grows with the square of the unit), and on 0–255 values the noise would be 255×
 * what it is on [0, 1].
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import type { Eigen, Store } from '@alexnet/core';
import { RecordReader } from '@alexnet/core';
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';

export interface Stats {
  images: number;
  /** Mean of every stored position and channel, [H × W × C]. */
  meanImage: Float32Array;
  /** Per channel. */
  mean: number[];
  std: number[];
  /** PCA of RGB values in [0, 1], largest component first (3 channels only). */
  eigen?: Eigen;
}

/** Indices of an evenly spaced sample of at most `limit` of `count` records. */
export function sampleIndices(count: number, limit: number): number[] {
  const n = Math.min(count, limit);
  return Array.from({ length: n }, (_, j) => Math.floor((j * count) / n));
}

export function computeStats(store: Store, limit: number): Stats {
  const [H, W, C] = store.shape;
  const size = H * W * C;
  const unit = store.dtype === 'uint8' ? 255 : 1;
  const idx = sampleIndices(store.count, limit);
  const sum = new Float64Array(size);
  const moments = new Float64Array(C + 9); // per-channel Σx², then the 3×3 Σ(x xᵀ) of [0,1] values
  const reader = new RecordReader(store);
  try {
    for (const i of idx) {
      const r = reader.read(i);
      for (let p = 0; p < size; p++) sum[p]! += r[p]!;
      for (let p = 0; p < size; p += C) {
        for (let c = 0; c < C; c++) moments[c]! += r[p + c]! * r[p + c]!;
        if (C === 3) {
          for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) moments[C + 3 * a + b]! += (r[p + a]! / unit) * (r[p + b]! / unit);
        }
      }
    }
  } finally {
    reader.close();
  }
  const n = idx.length;
  const pixels = n * H * W;
  const meanImage = new Float32Array(size);
  const channelSum = new Float64Array(C);
  for (let p = 0; p < size; p++) {
    meanImage[p] = sum[p]! / n;
    channelSum[p % C]! += sum[p]!;
  }
  const mean = [...channelSum].map((s) => s / pixels);
  const std = mean.map((m, c) => Math.sqrt(Math.max(0, moments[c]! / pixels - m * m)));
  const stats: Stats = { images: n, meanImage, mean, std };
  if (C === 3) {
    const mu = mean.map((m) => m / unit);
    const cov = [0, 1, 2].map((a) => [0, 1, 2].map((b) => moments[C + 3 * a + b]! / pixels - mu[a]! * mu[b]!));
    stats.eigen = eigen(cov);
  }
  return stats;
}

/** Eigenvalues and unit eigenvectors of a symmetric matrix, largest first. */
export function eigen(cov: number[][]): Eigen {
  const e = new EigenvalueDecomposition(new Matrix(cov), { assumeSymmetric: true });
  const vectors = e.eigenvectorMatrix.transpose().to2DArray();
  const order = e.realEigenvalues.map((v, k) => [v, k] as const).sort((a, b) => b[0] - a[0]);
  return { values: order.map(([v]) => Math.max(0, v)), vectors: order.map(([, k]) => vectors[k]!) };
}

/** `computeStats`, read from or written to `dir` when given (keyed by the sample size). */
export function trainingStats(store: Store, limit: number, dir?: string): Stats {
  if (!dir) return computeStats(store, limit);
  const file = join(dir, `stats-${Math.min(limit, store.count)}.json`);
  if (existsSync(file)) {
    try {
      const s = JSON.parse(readFileSync(file, 'utf8')) as Omit<Stats, 'meanImage'> & { meanImage: number[] };
      if (s.meanImage.length === store.shape[0] * store.shape[1] * store.shape[2]) return { ...s, meanImage: Float32Array.from(s.meanImage) };
    } catch {
      // unreadable: computed again and rewritten below
    }
  }
  const stats = computeStats(store, limit);
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.${threadId}.tmp`; // concurrent runs each write their own, then rename
  writeFileSync(tmp, JSON.stringify({ ...stats, meanImage: [...stats.meanImage] }));
  renameSync(tmp, file);
  return stats;
}
