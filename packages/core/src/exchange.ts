/**
 * The exchange at a cross-tower layer, written once: what each tower sends each other tower in forward,
 * and beside it the backward twin, as Megatron-LM's core/tensor_parallel/mappings.py pairs each forward
 * collective with its gradient (gather with reduce-scatter, reduce with all-reduce). The plan names each
 * layer's exchange; the towers' runtime, `bytes.ts`, `summary` and the report's drawing read it.
 *
 *   gather  the input is sharded (tower t holds channels [t·C/N, (t+1)·C/N)) and a tower reads outside its
 *           shard (conv3 reads all 256 maps of conv2; a group spread over two towers; an LRN halo).
 *           forward:  each holder sends each reader the part of its shard the reader's range covers; the
 *                     reader concatenates them with its own in channel order.
 *           backward: the twin: each reader sends each holder its gradient of that part; the holder sums
 *                     them, in tower order, with its own.
 *   reduce  the input is partial (after a row-split dense layer every tower holds a full-width partial sum).
 *           forward:  each tower sends each other tower its partial over the range that tower reads; the
 *                     reader sums them in tower order, then its own.
 *           backward: the input's gradient is the same for every tower's partial: each tower sends every
 *                     other tower its gradient of the range it read, and each sums them all, full width.
 *
 * A Transfer moves columns [lo, hi) of the layer's input (last axis) at every position (the H × W of a conv
 * input, 1 of a dense) of every image: `positions × (hi − lo)` values per image.
 */
import { type Range, rangeIntersect, shardRange } from './shapes.js';

export interface Transfer {
  readonly from: number;
  readonly to: number;
  readonly lo: number;
  readonly hi: number;
}

export type ExchangeKind = 'gather' | 'reduce';

export interface Exchange {
  readonly kind: ExchangeKind;
  readonly forward: readonly Transfer[];
  readonly backward: readonly Transfer[];
  /** Positions per image each column has (the product of the input shape but its last axis). */
  readonly positions: number;
  /** The input's width (last axis). */
  readonly width: number;
}

export type Direction = 'forward' | 'backward';

/** The exchange of a layer whose towers read `reads` of an input `width` wide that is sharded or partial. */
export function planExchange(kind: ExchangeKind, width: number, reads: readonly Range[], positions: number): Exchange {
  const towers = reads.length;
  const forward: Transfer[] = [];
  const backward: Transfer[] = [];
  for (let t = 0; t < towers; t++) {
    for (let s = 0; s < towers; s++) {
      if (s === t) continue;
      if (kind === 'gather') {
        const part = rangeIntersect(shardRange(width, s, towers), reads[t]!);
        if (!part) continue;
        forward.push({ from: s, to: t, lo: part.lo, hi: part.hi });
        backward.push({ from: t, to: s, lo: part.lo, hi: part.hi });
      } else {
        forward.push({ from: s, to: t, lo: reads[t]!.lo, hi: reads[t]!.hi });
        backward.push({ from: t, to: s, lo: reads[t]!.lo, hi: reads[t]!.hi });
      }
    }
  }
  const byPeer = (a: Transfer, b: Transfer): number => a.to - b.to || a.from - b.from;
  return { kind, forward: forward.sort(byPeer), backward: backward.sort(byPeer), positions, width };
}

/** What tower t receives in `dir`, in tower order (the order it sums or concatenates them in). */
export const incoming = (ex: Exchange, dir: Direction, t: number): Transfer[] => ex[dir].filter((x) => x.to === t).sort((a, b) => a.from - b.from);

/** What tower t sends in `dir`. */
export const outgoing = (ex: Exchange, dir: Direction, t: number): Transfer[] => ex[dir].filter((x) => x.from === t);

/** Values per image of a transfer. */
export const transferValues = (ex: Exchange, x: Transfer): number => ex.positions * (x.hi - x.lo);

/** Columns [lo, hi) of an activation or gradient: the values one transfer carries, or a reply's share. */
export interface Piece {
  lo: number;
  hi: number;
  data: Float32Array;
}

/**
 * The sum of `pieces` over columns [lo, hi) of an array with `rows` rows (batch × positions), zeros where
 * none falls, added in the order given (tower order: the same sum on every run), into `out` if given. A
 * single piece that is exactly [lo, hi) is returned as it is.
 */
export function sumPieces(pieces: readonly Piece[], rows: number, lo: number, hi: number, out?: Float32Array): Float32Array {
  const width = hi - lo;
  if (pieces.length === 1 && pieces[0]!.lo === lo && pieces[0]!.hi === hi) return pieces[0]!.data;
  const sum = out ?? new Float32Array(rows * width);
  if (sum.length !== rows * width) throw new Error(`a sum of ${rows}×${width} into ${sum.length} values`);
  let first = true;
  for (const p of pieces) {
    const w = p.hi - p.lo;
    if (p.data.length !== rows * w) throw new Error(`columns [${p.lo}, ${p.hi}) hold ${p.data.length} values, expected ${rows * w}`);
    const a = Math.max(lo, p.lo);
    const b = Math.min(hi, p.hi);
    if (a >= b) continue;
    // 0 + x is x exactly, so the first whole piece is copied rather than added
    if (w === width && a === lo) first ? sum.set(p.data) : addInto(sum, p.data);
    else {
      if (first) sum.fill(0);
      addRows(sum, width, a - lo, p.data, w, a - p.lo, b - a, rows);
    }
    first = false;
  }
  if (first) sum.fill(0);
  return sum;
}

// The loops live in small functions of their own, where the engine keeps both arrays in registers (in
// sumPieces' body the sum ran 3–4× slower).
function addInto(sum: Float32Array, x: Float32Array): void {
  const n = sum.length;
  for (let i = 0; i < n; i++) sum[i]! += x[i]!;
}

function addRows(sum: Float32Array, width: number, o0: number, x: Float32Array, w: number, d0: number, n: number, rows: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * width + o0;
    const d = r * w + d0;
    for (let c = 0; c < n; c++) sum[o + c]! += x[d + c]!;
  }
}

/** Columns [lo, hi) of a [rows, width] array (the array itself when that is all of it). */
export function sliceLastAxis(a: Float32Array, rows: number, lo: number, hi: number): Float32Array {
  const width = a.length / rows;
  if (lo === 0 && hi === width) return a;
  const w = hi - lo;
  const out = new Float32Array(rows * w);
  for (let r = 0; r < rows; r++) out.set(a.subarray(r * width + lo, r * width + hi), r * w);
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
