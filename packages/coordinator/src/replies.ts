/**
 * A tower's reply checked against what the plan says it must contain, before the coordinator forwards a
 * byte of it. The codec has already checked the frames against the header; this checks the header against
 * the plan (tensor count and shapes, gradient parts), so a broken tower is named instead of surfacing as a
 * TypeError, or as a wrong-sized input, in another tower's request.
 */
import type { Message } from '@alexnet/core';
import { TowerError } from './link.js';

const same = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** An activation: exactly one tensor of shape `shape`. */
export function checkActivation(m: Message<'activation'>, tower: number, shape: readonly number[]): void {
  const got = m.header.tensors.map((t) => `[${t.shape.join(', ')}]`).join(', ');
  if (m.tensors.length !== 1 || !same(m.header.tensors[0]!.shape, shape)) {
    throw new TowerError(`tower ${tower} sent activation ${got || '(no tensor)'} for segment ${m.header.segment}, expected [${shape.join(', ')}]`);
  }
}

/**
 * A gradient: one tensor per part; each part names a shard of `towers` and a column range [lo, hi) of an
 * input `width` wide, and holds rows × (hi − lo) values. `expectNone`: segment 0, whose input is the image.
 */
export function checkGradient(m: Message<'gradient'>, tower: number, towers: number, width: number, rows: number, expectNone: boolean): void {
  const bad = (why: string): never => {
    throw new TowerError(`tower ${tower} sent a bad gradient for segment ${m.header.segment}: ${why}`);
  };
  const { parts } = m.header;
  if (!Array.isArray(parts)) bad('parts is not a list');
  if (parts.length !== m.tensors.length) bad(`${parts.length} parts but ${m.tensors.length} tensors`);
  if (expectNone && parts.length > 0) bad('the image needs no gradient');
  parts.forEach((p, j) => {
    const ok = p !== null && typeof p === 'object' && [p.shard, p.lo, p.hi].every(Number.isInteger);
    if (!ok || p.shard < 0 || p.shard >= towers || p.lo < 0 || p.hi > width || p.lo >= p.hi) bad(`part ${j} ${JSON.stringify(p)?.slice(0, 60)} is not a shard of ${towers} and a range within ${width}`);
    if (m.tensors[j]!.length !== rows * (p.hi - p.lo)) bad(`part ${j} holds ${m.tensors[j]!.length} values, expected ${rows * (p.hi - p.lo)}`);
  });
}
