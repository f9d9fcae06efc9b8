/**
 * The fewest payload bytes per training step that a split plan implies when the towers talk through the
 * coordinator. Every tower is sent the image. At an exchange point where towers gather shards, each value
 * a tower reads but does not hold goes up once from its holder and down once to each reader; its gradient
 * comes back the same way. Where the input is partial (after a row-split layer), each tower sends up its
 * partial for every range another tower reads and is sent down the others' sum for its own range; in
 * backward each tower's input gradient goes up once and every other tower that needs it is sent it. The
 * logits go up and their gradient comes down.
 */
import { type Plan, product, type Range, shardRange } from '@alexnet/core';

const size = (r: Range): number => r.hi - r.lo;

/** How many of [0, width) are covered by any of `ranges`. */
function covered(width: number, ranges: readonly Range[]): number {
  const hit = new Uint8Array(width);
  for (const r of ranges) hit.fill(1, r.lo, r.hi);
  return hit.reduce((a, b) => a + b, 0);
}

/** Per layer: the values its exchange moves per image, forward and backward (0 where it does not exchange). */
export function exchangeValues(plan: Plan): number[] {
  const N = plan.towers;
  return plan.layers.map((p) => {
    if (!p.exchange) return 0;
    const width = p.layer.inShape[p.layer.inShape.length - 1]!;
    const positions = product(p.layer.inShape.slice(0, -1));
    const reads = p.towers.map((s) => s.in);
    let perPosition: number;
    if (p.input === 'partial') {
      const fromEach = reads.reduce((a, _, s) => a + covered(width, reads.filter((_r, t) => t !== s)), 0);
      const ownRanges = reads.reduce((a, r) => a + size(r), 0);
      perPosition = 2 * (fromEach + ownRanges);
    } else {
      const missing = reads.map((r, t) => {
        const held = shardRange(width, t, N);
        return [{ lo: r.lo, hi: Math.min(r.hi, held.lo) }, { lo: Math.max(r.lo, held.hi), hi: r.hi }].filter((x) => x.hi > x.lo);
      });
      const down = missing.flat().reduce((a, r) => a + size(r), 0);
      const up = covered(width, missing.flat());
      perPosition = 2 * (up + down);
    }
    return perPosition * positions;
  });
}

export function minimumBytes(plan: Plan, batch: number): number {
  const N = plan.towers;
  let values = N * batch * product(plan.net.inputShape) + batch * exchangeValues(plan).reduce((a, b) => a + b, 0);
  const last = plan.layers[plan.layers.length - 1]!;
  values += 2 * batch * plan.net.classes * (last.output === 'partial' ? N : 1);
  return values * 4;
}
