/**
 * A tower's reply checked against what the plan says it must contain, before the coordinator forwards a
 * byte of it. The codec has already checked the frames against the header; this checks the header against
 * the plan (tensor count and shapes), so a broken tower is named instead of surfacing as a TypeError, or as
 * a wrong-sized gradient sent back to it.
 */
import type { Message, Plan } from '@alexnet/core';
import { TowerError } from './link.js';
import type { MicroBatch } from './logits.js';

const same = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** An activation: exactly one tensor of shape `shape`. */
export function checkActivation(m: Message<'activation'>, tower: number, shape: readonly number[]): void {
  const got = m.header.tensors.map((t) => `[${t.shape.join(', ')}]`).join(', ');
  if (m.tensors.length !== 1 || !same(m.header.tensors[0]!.shape, shape)) {
    throw new TowerError(`tower ${tower} sent logits ${got || '(no tensor)'} for micro-batch ${m.header.part}, expected [${shape.join(', ')}]`);
  }
}

/** A gradient reply says a micro-batch's backward is done: it carries no tensor (the gradients stay on the tower). */
export function checkGradient(m: Message<'gradient'>, tower: number): void {
  if (m.tensors.length !== 0) throw new TowerError(`tower ${tower} sent ${m.tensors.length} tensors with the end of micro-batch ${m.header.part}'s backward, expected none`);
}

/** Replies must answer micro-batch `p` of pass `pass`, shaped as the plan says. */
export function checkReplies(plan: Plan, replies: readonly Message<'activation' | 'gradient'>[], p: MicroBatch, pass: number): void {
  const last = plan.layers[plan.layers.length - 1]!;
  replies.forEach((r, t) => {
    if (r.header.part !== p.index || r.header.pass !== pass) {
      throw new TowerError(`tower ${t} answered pass ${r.header.pass} micro-batch ${r.header.part}, expected pass ${pass} micro-batch ${p.index}`);
    }
    if (r.header.kind === 'gradient') {
      checkGradient(r as Message<'gradient'>, t);
      return;
    }
    const out = last.towers[t]!.out;
    checkActivation(r as Message<'activation'>, t, [p.size, ...last.layer.outShape.slice(0, -1), out.hi - out.lo]);
  });
}
