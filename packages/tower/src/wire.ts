/**
 * A tower that skips the arithmetic (`compute: 'none'`, for `npm run bench -- --compute none`): every
 * request is answered with tensors of exactly the shapes and parts the real model sends, so the wire, the
 * coordinator and the scheduling are measured alone. Values are zeros from reused buffers (no allocation
 * per message), and nothing is trained.
 */
import { type PartMeta, type Plan, product, rangeIntersect, shardRange, shardsFor } from '@alexnet/core';
import type { TensorOut } from './model.js';

export class WireModel {
  readonly paramCount = 0;
  lastLayerMs: number[] = [];
  /** Per micro-batch: its size, known from segment 0's input. */
  private readonly sizes = new Map<number, number>();
  private readonly zeros = new Map<number, Float32Array>();

  constructor(
    readonly plan: Plan,
    readonly tower: number,
    readonly seed: number,
  ) {}

  private buffer(n: number): Float32Array {
    let z = this.zeros.get(n);
    if (!z) this.zeros.set(n, (z = new Float32Array(n)));
    return z;
  }

  /** The micro-batch's size: segment 0 is sent the image, whose first axis it is. */
  size(k: number, part: number, inputs: readonly TensorOut[]): number {
    if (k === 0) this.sizes.set(part, inputs[0]?.shape[0] ?? 0);
    const n = this.sizes.get(part);
    if (n === undefined) throw new Error(`segment ${k} of part ${part} before its segment 0`);
    return n;
  }

  forward(k: number, inputs: TensorOut[], _ctx: unknown, part = 0): TensorOut {
    const n = this.size(k, part, inputs);
    const last = this.plan.layers[this.plan.segments[k]!.end - 1]!;
    const out = last.towers[this.tower]!.out;
    const shape = [n, ...last.layer.outShape.slice(0, -1), out.hi - out.lo];
    return { data: this.buffer(product(shape)), shape };
  }

  /** The input-gradient parts the real model's splitByShard sends (none for segment 0). */
  backward(k: number, _dy: TensorOut, part = 0): { parts: PartMeta[]; tensors: TensorOut[] } {
    if (k === 0) return { parts: [], tensors: [] };
    const n = this.size(k, part, []);
    const planned = this.plan.layers[this.plan.segments[k]!.first]!;
    const inShape = planned.layer.inShape;
    const width = inShape[inShape.length - 1]!;
    const need = planned.towers[this.tower]!.in;
    const parts: PartMeta[] = [];
    const tensors: TensorOut[] = [];
    for (const s of shardsFor(width, this.plan.towers, need)) {
      if (s === this.tower && planned.input !== 'partial') continue;
      const r = rangeIntersect(shardRange(width, s, this.plan.towers), need)!;
      const shape = [n, ...inShape.slice(0, -1), r.hi - r.lo];
      parts.push({ shard: s, lo: r.lo, hi: r.hi });
      tensors.push({ data: this.buffer(product(shape)), shape });
    }
    return { parts, tensors };
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
