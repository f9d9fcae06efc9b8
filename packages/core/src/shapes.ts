/**
 * Shape arithmetic as small pure functions, tested without tensors (the tfjs-core way).
 */
import { ShapeError } from './errors.js';

/** Output length of a convolution or pooling window sliding over `inLength` (explicit symmetric padding). */
export function windowOutputLength(inLength: number, size: number, stride: number, pad: number): number {
  const span = inLength + 2 * pad - size;
  if (span < 0) {
    throw new ShapeError(`window of size ${size} (pad ${pad}) does not fit an input of length ${inLength}`);
  }
  return Math.floor(span / stride) + 1;
}

/** Half-open range [lo, hi) along the channel (last) axis. */
export interface Range {
  lo: number;
  hi: number;
}

export const rangeLength = (r: Range): number => r.hi - r.lo;

export const rangeContains = (outer: Range, inner: Range): boolean => outer.lo <= inner.lo && inner.hi <= outer.hi;

export function rangeIntersect(a: Range, b: Range): Range | undefined {
  const lo = Math.max(a.lo, b.lo);
  const hi = Math.min(a.hi, b.hi);
  return lo < hi ? { lo, hi } : undefined;
}

/** Tower `t` of `n` holds this contiguous slice of `size` channels/units (size must divide evenly). */
export function shardRange(size: number, t: number, n: number): Range {
  if (size % n !== 0) throw new ShapeError(`${size} channels do not split evenly over ${n} towers`);
  const w = size / n;
  return { lo: t * w, hi: (t + 1) * w };
}

export const product = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);
