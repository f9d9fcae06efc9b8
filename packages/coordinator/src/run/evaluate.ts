/**
 * Top-1 and top-5 error on the validation set, from the centre crop or the paper's ten views per image
 * (softmax averaged over them). Views are made ahead by the loader threads while the towers run the last.
 */
import type { BatchSource } from '@alexnet/core';
import type { Source, ViewMode } from '../data/index.js';
import type { Images, Session } from '../towers/session.js';

export interface EvalResult {
  images: number;
  crops: number;
  loss: number;
  top1_error: number;
  top5_error: number;
}

/** Softmax of each row of `logits` [n, classes], into a new float64 array (float32 underflows to ties at 0 sooner). */
export function softmaxRows(logits: Float32Array, classes: number): Float64Array {
  const p = new Float64Array(logits.length);
  for (let r = 0; r < logits.length; r += classes) {
    let max = -Infinity;
    for (let k = 0; k < classes; k++) max = Math.max(max, logits[r + k]!);
    let sum = 0;
    for (let k = 0; k < classes; k++) sum += p[r + k] = Math.exp(logits[r + k]! - max);
    for (let k = 0; k < classes; k++) p[r + k]! /= sum;
  }
  return p;
}

/** Mean of each consecutive group of `views` rows: [n × views, classes] → [n, classes]. */
export function averageViews(probs: Float64Array, views: number, classes: number): Float64Array {
  if (views === 1) return probs;
  const n = probs.length / (views * classes);
  const out = new Float64Array(n * classes);
  for (let i = 0; i < n; i++) {
    for (let v = 0; v < views; v++) for (let k = 0; k < classes; k++) out[i * classes + k]! += probs[(i * views + v) * classes + k]!;
    for (let k = 0; k < classes; k++) out[i * classes + k]! /= views;
  }
  return out;
}

/** Rank of the true class (0 = top-1): how many other classes score at least as high (ties count against it). */
export function rankOf(probs: Float64Array, row: number, classes: number, label: number): number {
  const p = probs[row * classes + label]!;
  let rank = 0;
  for (let k = 0; k < classes; k++) if (k !== label && probs[row * classes + k]! >= p) rank++;
  return rank;
}

/** `ahead`: chunks requested from the loader threads beyond the one the towers run. */
export async function evaluate(session: Session, loader: BatchSource<Images>, source: Source, batch: number, crops: 1 | 10, ahead = 1): Promise<EvalResult> {
  const mode: ViewMode = crops === 10 ? 'ten' : 'centre';
  const classes = source.classes;
  const n = source.test.count;
  const per = Math.max(1, Math.floor(batch / crops));
  const chunks: Uint32Array[] = [];
  for (let s = 0; s < n; s += per) chunks.push(Uint32Array.from({ length: Math.min(per, n - s) }, (_, i) => s + i));
  let loss = 0;
  let top1 = 0;
  let top5 = 0;
  const pending = chunks.slice(0, ahead + 1).map((idx) => loader.batch('test', idx, mode));
  for (let c = 0; c < chunks.length; c++) {
    const images = await pending.shift()!;
    if (c + ahead + 1 < chunks.length) pending.push(loader.batch('test', chunks[c + ahead + 1]!, mode));
    const idx = chunks[c]!;
    const logits = await session.infer(images, idx.length * crops);
    const probs = averageViews(softmaxRows(logits, classes), crops, classes);
    idx.forEach((i, r) => {
      const label = source.test.labels[i]!;
      const rank = rankOf(probs, r, classes, label);
      if (rank >= 1) top1++;
      if (rank >= 5) top5++;
      loss -= Math.log(Math.max(probs[r * classes + label]!, 1e-30));
    });
  }
  return { images: n, crops, loss: loss / n, top1_error: top1 / n, top5_error: top5 / n };
}
