/**
 * The coordinator's side of the exchange, on plain float32 arrays. Forward needs no arithmetic: each
 * tower is sent the shards its range reads, as received (views, no copies). Backward sums the towers'
 * partial input gradients per shard: the gradient w.r.t. an input every tower read is the sum of theirs.
 */
import type { PartMeta } from '@alexnet/core';

export interface Part {
  meta: PartMeta;
  data: Float32Array;
}

/**
 * Sum the parts' values in columns [lo, hi) of an activation with `rows` rows (batch × spatial). A part
 * covers global columns [meta.lo, meta.hi); only its overlap with [lo, hi) is added. Used for the towers'
 * partial input gradients of a shard, and for the partial sums of a row-split layer. A single part that
 * is exactly [lo, hi) is returned as is.
 */
export function sumShard(parts: readonly Part[], rows: number, lo: number, hi: number): Float32Array {
  const width = hi - lo;
  if (parts.length === 1 && parts[0]!.meta.lo === lo && parts[0]!.meta.hi === hi) return parts[0]!.data;
  const out = new Float32Array(rows * width);
  for (const { meta, data } of parts) {
    const w = meta.hi - meta.lo;
    if (data.length !== rows * w) throw new Error(`part for shard ${meta.shard} [${meta.lo}, ${meta.hi}) has ${data.length} values, expected ${rows * w}`);
    const a = Math.max(lo, meta.lo);
    const b = Math.min(hi, meta.hi);
    if (a >= b) continue;
    if (w === width && a === lo) {
      for (let i = 0; i < out.length; i++) out[i]! += data[i]!;
      continue;
    }
    const n = b - a;
    const o0 = a - lo;
    const d0 = a - meta.lo;
    for (let r = 0; r < rows; r++) {
      const o = r * width + o0;
      const d = r * w + d0;
      for (let c = 0; c < n; c++) out[o + c]! += data[d + c]!;
    }
  }
  return out;
}

/** Concatenate [rows, w_t] blocks along the last axis into [rows, Σ w_t] (the logits of all towers). */
export function concatLastAxis(blocks: readonly Float32Array[], rows: number): Float32Array {
  const widths = blocks.map((b) => b.length / rows);
  const total = widths.reduce((a, b) => a + b, 0);
  const out = new Float32Array(rows * total);
  let off = 0;
  blocks.forEach((b, t) => {
    const w = widths[t]!;
    for (let r = 0; r < rows; r++) out.set(b.subarray(r * w, (r + 1) * w), r * total + off);
    off += w;
  });
  return out;
}

/** Columns [lo, hi) of a [rows, width] array. */
export function sliceLastAxis(a: Float32Array, rows: number, lo: number, hi: number): Float32Array {
  const width = a.length / rows;
  if (lo === 0 && hi === width) return a;
  const w = hi - lo;
  const out = new Float32Array(rows * w);
  for (let r = 0; r < rows; r++) out.set(a.subarray(r * width + lo, r * width + hi), r * w);
  return out;
}
