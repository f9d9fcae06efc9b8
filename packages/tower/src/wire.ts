/**
 * A tower that skips the arithmetic (`compute: 'none'`, for `npm run bench -- --compute none`): every
 * request is answered with tensors of exactly the shapes and parts the real model sends, so the wire, the
 * coordinator and the scheduling are measured alone. Values are zeros from reused buffers (no allocation
 * per message), and nothing is trained.
 */
import { type Direction, outgoing, type Piece, type Plan, product } from '@alexnet/core';
import type { SegmentModel } from './passes.js';
import type { TensorOut } from './tensors.js';

export class WireModel implements SegmentModel {
  readonly paramCount = 0;
  private readonly buffers = new Map<number, Float32Array>();

  constructor(
    readonly plan: Plan,
    readonly tower: number,
  ) {}

  private buffer(n: number): Float32Array {
    let z = this.buffers.get(n);
    if (!z) {
      z = new Float32Array(n);
      this.buffers.set(n, z);
    }
    return z;
  }

  takeTimes(): { forward: number[]; backward: number[] } {
    return { forward: [], backward: [] };
  }

  /** The next exchange's transfers, or the last segment's output, as the real model returns them. */
  forward(k: number, _input: TensorOut | Piece[], _ctx: unknown, _part: number, n: number): TensorOut[] {
    const segments = this.plan.segments;
    const last = this.plan.layers[segments[k]!.end - 1]!;
    const lead = [n, ...last.layer.outShape.slice(0, -1)];
    if (k + 1 < segments.length) return this.transfers(segments[k + 1]!.first, 'forward', lead);
    const out = last.towers[this.tower]!.out;
    return [this.zeros([...lead, out.hi - out.lo])];
  }

  /** The transfers of the gradient of segment k's input (none for segment 0), as the real model returns them. */
  backward(k: number, _dy: Piece[], _part: number, n: number): TensorOut[] {
    if (k === 0) return [];
    const first = this.plan.segments[k]!.first;
    return this.transfers(first, 'backward', [n, ...this.plan.layers[first]!.layer.inShape.slice(0, -1)]);
  }

  private transfers(i: number, dir: Direction, lead: number[]): TensorOut[] {
    const ex = this.plan.layers[i]!.exchange;
    return ex ? outgoing(ex, dir, this.tower).map((t) => this.zeros([...lead, t.hi - t.lo])) : [];
  }

  private zeros(shape: number[]): TensorOut {
    return { data: this.buffer(product(shape)), shape };
  }

  update(): void {}

  weights(): never {
    throw new Error('a tower started with compute none holds no weights');
  }

  load(): never {
    throw new Error('a tower started with compute none holds no weights');
  }

  dispose(): void {
    this.buffers.clear();
  }
}
