/**
 * The fewest payload bytes per training step the split plan implies, per process. Towers render their own
 * batches, so no image crosses the wire; at each exchange (the plan names it, see core's exchange.ts) every
 * transfer crosses once, from the tower that holds the values to the tower that reads them, in forward and
 * again (its gradient) in backward. The logits go up to the coordinator and their gradient comes down: each
 * tower's output shard, or after a row-split last layer each tower's full-width partial sum.
 */
import { type Plan, transferValues } from '@alexnet/core';

export interface Through {
  sent: number;
  received: number;
}

export interface MinimumBytes {
  towers: Through[];
  coordinator: Through;
}

/** Per layer: the values its exchange moves per image, forward and backward, all towers (0 where none). */
export function exchangeValues(plan: Plan): number[] {
  return plan.layers.map((p) => {
    const ex = p.exchange;
    if (!ex) return 0;
    return [...ex.forward, ...ex.backward].reduce((a, x) => a + transferValues(ex, x), 0);
  });
}

/** Values per image of tower t's logits (its output of the last layer), which it sends up and gets the gradient of. */
function logitValues(plan: Plan, t: number): number {
  const last = plan.layers[plan.layers.length - 1]!;
  if (last.output === 'replicated') return t === 0 ? plan.net.classes : 0;
  const out = last.towers[t]!.out;
  return out.hi - out.lo;
}

export function minimumBytes(plan: Plan, batch: number): MinimumBytes {
  const towers = Array.from({ length: plan.towers }, (_, t): Through => {
    const logits = logitValues(plan, t);
    let sent = logits;
    let received = logits;
    for (const p of plan.layers) {
      const ex = p.exchange;
      if (!ex) continue;
      for (const x of [...ex.forward, ...ex.backward]) {
        if (x.from === t) sent += transferValues(ex, x);
        if (x.to === t) received += transferValues(ex, x);
      }
    }
    return { sent: sent * batch * 4, received: received * batch * 4 };
  });
  const up = towers.reduce((a, _, t) => a + logitValues(plan, t), 0) * batch * 4;
  return { towers, coordinator: { sent: up, received: up } };
}

/** The most bytes through any one process (sent + received). */
export const busiest = (m: MinimumBytes): number => Math.max(...[m.coordinator, ...m.towers].map((x) => x.sent + x.received));
