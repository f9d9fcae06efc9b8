/**
 * A tower that skips the arithmetic (`compute: 'none'`, for `npm run bench -- --compute none`): every
 * request is answered with tensors of exactly the shapes and parts the real model sends, so the wire, the
 * coordinator and the scheduling are measured alone. Values are zeros from reused buffers (no allocation
 * per message), and nothing is trained.
 */
import { type Piece, type Plan, product } from '@alexnet/core';
import type { TensorOut } from './model.js';
import type { SegmentModel } from './passes.js';

export class WireModel implements SegmentModel {
  readonly paramCount = 0;
  private readonly zeros = new Map<number, Float32Array>();

  constructor(
    readonly plan: Plan,
    readonly tower: number,
  ) {}

  private buffer(n: number): Float32Array {
    let z = this.zeros.get(n);
    if (!z) this.zeros.set(n, (z = new Float32Array(n)));
    return z;
  }

  takeTimes(): { forward: number[]; backward: number[] } {
    return { forward: [], backward: [] };
  }

  forward(k: number, _input: TensorOut | Piece[], _ctx: unknown, _part: number, n: number): TensorOut {
    const last = this.plan.layers[this.plan.segments[k]!.end - 1]!;
    const out = last.towers[this.tower]!.out;
    const shape = [n, ...last.layer.outShape.slice(0, -1), out.hi - out.lo];
    return { data: this.buffer(product(shape)), shape };
  }

  /** The gradient of the columns segment k's first layer reads (none for segment 0), as the real model returns it. */
  backward(k: number, _dy: Piece[], _part: number, n: number): TensorOut | undefined {
    if (k === 0) return undefined;
    const planned = this.plan.layers[this.plan.segments[k]!.first]!;
    const need = planned.towers[this.tower]!.in;
    const shape = [n, ...planned.layer.inShape.slice(0, -1), need.hi - need.lo];
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
    this.zeros.clear();
  }
}
