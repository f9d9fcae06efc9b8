/**
 * One tower's slice of the net: 1/N of every layer's filters/units, their optimizer state (SGD's momentum,
 * or Adam's moments), and what the forward pass saved for backward. Pure compute, no sockets: the socket
 * loop in tower.ts drives it.
 */

import {
  type Config,
  type Direction,
  initSlice,
  type LayerOp,
  layerOp,
  outgoing,
  type ParamMeta,
  type Piece,
  type Plan,
  paramSlices,
  product,
  rangeIntersect,
  type StepContext,
  shardRange,
  shardsFor,
  sumPieces,
} from '@alexnet/core';
import * as tf from '@tensorflow/tfjs';
import { SliceOptimizer } from './optimizer.js';
import type { SegmentModel } from './passes.js';
import { lastAxisSlice, padLastAxis, type TensorOut, timed, toOut } from './tensors.js';

export class TowerModel implements SegmentModel {
  private readonly ops: LayerOp[];
  /** Per layer: [weight, bias] slices, or [] for parameter-free layers. */
  private params: tf.Tensor[][];
  /** The accumulated gradients and the optimizer's state of every slice. */
  private readonly optimizer: SliceOptimizer;
  /** This tower's output of a segment, kept for its next segment's input (key `segment:part`). */
  private readonly ownOutput = new Map<string, tf.Tensor>();
  /** This tower's own part of a segment's output gradient, kept for that segment's backward. */
  private readonly ownGrad = new Map<string, { value: tf.Tensor; lo: number }>();
  /** What deferred parameter gradients need, per layer and micro-batch, until the update. */
  private pending: { layer: number; part: number; saved: tf.Tensor[]; dy: tf.Tensor }[] = [];
  /** Per layer: what forward saved, keyed by the batch part it belongs to. */
  private readonly saved = new Map<string, tf.Tensor[]>();
  readonly paramCount: number;
  /** When profiling: ms per layer (every layer of the net) since the last takeTimes(), forward and backward. */
  private times = { forward: [] as number[], backward: [] as number[] };

  get seed(): number {
    return this.config.train.seed;
  }

  constructor(
    readonly plan: Plan,
    readonly tower: number,
    private readonly config: Config,
    /** Time every layer op (on asynchronous backends this forces each op to finish: profiling only). */
    private readonly profile = false,
  ) {
    this.ops = plan.layers.map((p) => layerOp(p, tower));
    const seed = config.train.seed;
    this.params = plan.layers.map((p) => {
      if (p.layer.paramShapes.length === 0) return [];
      const slice = p.towers[tower]!;
      const cols = slice.out;
      // A row-split dense layer holds the rows of its input shard (and every column).
      const rows = p.split === 'row' ? slice.in : undefined;
      const { weight, bias } = initSlice(p.layer, cols, seed, config.train.init, rows);
      const full = p.layer.paramShapes[0]!;
      const wShape = (rows ? [rows.hi - rows.lo] : full.slice(0, -1)).concat(cols.hi - cols.lo);
      return this.withDerived(p.layer.index, [tf.tensor(weight, wShape), tf.tensor(bias, [cols.hi - cols.lo])]);
    });
    this.optimizer = new SliceOptimizer(config.train.optimizer, this.params);
    // Parameters held, as configured: not the derived copies, nor a row-split tower's unused bias.
    this.paramCount = plan.layers.reduce((a, p, i) => {
      const own = p.layer.paramShapes.length;
      const held = p.split === 'row' && tower !== 0 ? 1 : own;
      return a + this.params[i]!.slice(0, held).reduce((b, t) => b + t.size, 0);
    }, 0);
  }

  /** Per-layer ms since the last call (empty arrays unless profiling). */
  takeTimes(): { forward: number[]; backward: number[] } {
    const t = this.times;
    const zeros = (): number[] => (this.profile ? new Array<number>(this.plan.layers.length).fill(0) : []);
    this.times = { forward: zeros(), backward: zeros() };
    return t.forward.length || t.backward.length ? t : { forward: [], backward: [] };
  }

  private time(dir: 'forward' | 'backward', i: number, ms: number): void {
    const into = this.times[dir];
    if (into.length === 0) into.push(...new Array<number>(this.plan.layers.length).fill(0));
    into[i]! += ms;
  }

  /**
   * Run segment `k` forward on micro-batch `part` (n samples). `input`: for segment 0 the image batch; for
   * k > 0 the other towers' transfers of the segment's first layer (exchange.ts), in tower order. Returns
   * what this tower sends: its transfers of the next segment's exchange, or the last segment's output.
   */
  forward(k: number, input: TensorOut | Piece[], ctx: StepContext, part = 0, _n?: number): TensorOut[] {
    const seg = this.plan.segments[k]!;
    const y = tf.tidy(() => {
      let x = this.assemble(seg.first, input, k, part);
      for (let i = seg.first; i < seg.end; i++) {
        const t0 = this.profile ? performance.now() : 0;
        const out = this.ops[i]!.forward(x, this.params[i]!, ctx);
        if (this.profile) this.time('forward', i, timed(out.y, t0));
        if (ctx.training) {
          this.dropSaved(i, part);
          out.saved.forEach((t) => tf.keep(t));
          this.saved.set(`${i}:${part}`, out.saved);
        }
        x = out.y;
      }
      return x;
    });
    if (k + 1 < this.plan.segments.length) {
      const out = this.cuts(y, this.plan.segments[k + 1]!.first, 'forward', this.plan.layers[seg.end - 1]!.towers[this.tower]!.out.lo);
      // The next segment reads this output too: keep it here rather than have it sent back.
      this.release(this.ownOutput.get(`${k}:${part}`));
      this.ownOutput.set(`${k}:${part}`, y);
      return out;
    }
    const out = toOut(y);
    if (!this.isSaved(y)) y.dispose(); // (a relu or pool at the end of a segment saves its y)
    return [out];
  }

  /**
   * This tower's transfers of `y` (whose columns start at `lo`) in layer i's exchange, in `outgoing` order:
   * cut on the backend, so only what is sent is read back (half of conv3's input gradient in the paper
   * net) and nothing is cut row by row on the CPU.
   */
  private cuts(y: tf.Tensor, i: number, dir: Direction, lo: number): TensorOut[] {
    const ex = this.plan.layers[i]!.exchange;
    if (!ex) return [];
    const width = y.shape[y.rank - 1]!;
    let whole: TensorOut | undefined;
    return outgoing(ex, dir, this.tower).map((t) => {
      if (t.lo - lo === 0 && t.hi - lo === width) {
        whole ??= toOut(y);
        return whole;
      }
      const cut = lastAxisSlice(y, t.lo - lo, t.hi - lo);
      const out = toOut(cut);
      cut.dispose();
      return out;
    });
  }

  /**
   * Run segment `k` backward. `dy`: the other towers' gradients of this tower's output columns (or the
   * coordinator's ∂loss/∂logits), summed here in the order given, with the part this tower kept itself.
   * Returns this tower's transfers of the gradient of the segment's input (none for segment 0); the part
   * of it in this tower's own columns stays here for segment k−1.
   */
  backward(k: number, dy: Piece[], part = 0, n?: number): TensorOut[] {
    const seg = this.plan.segments[k]!;
    const last = this.plan.layers[seg.end - 1]!;
    const held = last.towers[this.tower]!.out;
    const lead = [n ?? this.sizeOf(part), ...last.layer.outShape.slice(0, -1)];
    // Layers share saved tensors (a relu's output is the next layer's saved input): free them together.
    const done = new Set<tf.Tensor>();
    const kept: tf.Tensor[] = [];
    const own = this.ownGrad.get(`${k}:${part}`);
    this.ownGrad.delete(`${k}:${part}`);
    const dx = tf.tidy(() => {
      let g: tf.Tensor | undefined = tf.tensor(sumPieces(dy, product(lead), held.lo, held.hi), [...lead, held.hi - held.lo]);
      if (own) g = tf.add(g, padLastAxis(own.value, own.lo, held.hi - held.lo));
      for (let i = seg.end - 1; i >= seg.first; i--) {
        const saved = this.saved.get(`${i}:${part}`);
        if (!saved) throw new Error(`backward of ${this.plan.layers[i]!.layer.name} without its forward (part ${part})`);
        const needDx = i > 0;
        const op = this.ops[i]!;
        const t0 = this.profile ? performance.now() : 0;
        const { dx: gx, grads } = op.backward(g!, saved, this.params[i]!, { dx: needDx, grads: !op.deferredGrads });
        this.optimizer.accumulate(i, grads);
        const out = gx ?? grads[0];
        if (this.profile) this.time('backward', i, out ? timed(out, t0) : performance.now() - t0);
        saved.forEach((t) => done.add(t));
        if (op.deferredGrads) {
          // Keep what the once-per-batch parameter gradients need (see LayerOp.deferredGrads).
          this.pending.push({ layer: i, part, saved: saved.map((t) => t), dy: tf.keep(g!) });
          kept.push(...saved);
        }
        this.saved.delete(`${i}:${part}`);
        g = gx;
      }
      if (g && k > 0) this.keepOwn(seg.first, g, k, part);
      return g;
    });
    own?.value.dispose();
    kept.forEach((t) => done.delete(t));
    done.forEach((t) => t.dispose());
    if (!dx) return [];
    const out = this.cuts(dx, seg.first, 'backward', this.plan.layers[seg.first]!.towers[this.tower]!.in.lo);
    dx.dispose();
    return out;
  }

  /** A micro-batch's size, from what its forward saved (the wire-only model is told it instead). */
  private sizeOf(part: number): number {
    for (const [key, ts] of this.saved) if (key.endsWith(`:${part}`) && ts[0]) return ts[0].shape[0]!;
    throw new Error(`backward of part ${part} without its forward`);
  }

  /** The configured params followed by those the op derives from them (another layout of the weights). */
  private withDerived(i: number, params: tf.Tensor[]): tf.Tensor[] {
    const derive = this.ops[i]!.derive;
    return derive ? [...params, ...derive(params)] : params;
  }

  /**
   * The deferred parameter gradients, once for the whole batch: each deferring layer's saved inputs and
   * output gradients of every micro-batch, concatenated in batch order. Returns ms per layer when profiling.
   */
  private flushDeferred(): number[] {
    const ms = new Array<number>(this.plan.layers.length).fill(0);
    const layers = [...new Set(this.pending.map((p) => p.layer))];
    for (const i of layers) {
      const parts = this.pending.filter((p) => p.layer === i).sort((a, b) => a.part - b.part);
      const t0 = this.profile ? performance.now() : 0;
      const grads = tf.tidy(() => {
        const cat = (ts: tf.Tensor[]): tf.Tensor => (ts.length === 1 ? ts[0]! : tf.concat(ts, 0));
        const saved = parts[0]!.saved.map((_, j) => cat(parts.map((p) => p.saved[j]!)));
        return this.ops[i]!.deferredGrads!(saved, cat(parts.map((p) => p.dy)), this.params[i]!);
      });
      this.optimizer.accumulate(i, grads);
      if (this.profile) ms[i] = timed(grads[0]!, t0);
    }
    const live = new Set([...this.saved.values()].flat());
    for (const p of this.pending) [...p.saved, p.dy].forEach((t) => live.has(t) || t.isDisposed || t.dispose());
    this.pending = [];
    return ms;
  }

  /** One optimizer step on the gradients accumulated since the last (see SliceOptimizer.step). */
  update(lr: number, step: number): void {
    if (!Number.isInteger(step) || step < 0) throw new Error(`update: step must be an integer ≥ 0, got ${step}`);
    const deferredMs = this.flushDeferred();
    if (this.profile) deferredMs.forEach((ms, i) => this.time('backward', i, ms));
    this.params = this.optimizer.step(this.params, lr, step);
  }

  /**
   * This tower's parameter slices with where they sit in the full tensors; with `withState`, followed by
   * every slot of the optimizer's state (all slices' velocity, or all slices' m then all slices' v).
   */
  weights(withState = false): { params: ParamMeta[]; tensors: TensorOut[] } {
    const slices = paramSlices(this.plan, this.tower);
    const params = slices.map((s) => s.meta);
    const tensors = slices.map((s) => toOut(this.params[s.layer]![s.param]!));
    if (!withState) return { params, tensors };
    const { slots, state } = this.optimizer;
    return {
      params: [...params, ...slots.flatMap((slot) => params.map((m) => ({ ...m, slot })))],
      tensors: [...tensors, ...state.flatMap((st) => slices.map((s) => toOut(st[s.layer]![s.param]!)))],
    };
  }

  /**
   * Load parameter values and optimizer state (a checkpoint), in the layout of `weights(true)`. Derived
   * copies (dense Wᵀ) and their state are derived again from the loaded ones: all are exact transposes.
   */
  load(metas: readonly ParamMeta[], tensors: readonly Float32Array[]): void {
    const slices = paramSlices(this.plan, this.tower);
    const { slots, state } = this.optimizer;
    const want = [...slices.map((s) => ({ ...s, slot: 'value' })), ...slots.flatMap((slot) => slices.map((s) => ({ ...s, slot })))];
    if (metas.length !== want.length || tensors.length !== want.length) {
      throw new Error(`load: expected ${want.length} tensors (values and ${slots.join(', ')}), got ${tensors.length}`);
    }
    // Check the whole layout before replacing anything: a refused load leaves the model as it was.
    want.forEach((w, k) => {
      const m = metas[k]!;
      if (m.layer !== w.meta.layer || m.param !== w.meta.param || m.lo !== w.meta.lo || m.hi !== w.meta.hi || (m.slot ?? 'value') !== w.slot) {
        throw new Error(
          `load: tensor ${k} is ${m.layer}/${m.param} [${m.lo}, ${m.hi}) ${m.slot ?? 'value'}, expected ${w.meta.layer}/${w.meta.param} [${w.meta.lo}, ${w.meta.hi}) ${w.slot}`,
        );
      }
      const size = this.params[w.layer]![w.param]!.size;
      if (tensors[k]!.length !== size) throw new Error(`load: ${m.layer}/${m.param} ${w.slot} has ${tensors[k]!.length} values, this tower holds ${size}`);
    });
    want.forEach((w, k) => {
      const into = w.slot === 'value' ? this.params : state[slots.indexOf(w.slot as (typeof slots)[number])]!;
      const old = into[w.layer]![w.param]!;
      into[w.layer]![w.param] = tf.tensor(tensors[k]!, old.shape);
      old.dispose();
    });
    this.plan.layers.forEach((p, i) => {
      const own = p.layer.paramShapes.length;
      if (this.params[i]!.length <= own) return;
      for (const into of [this.params, ...state]) {
        into[i]!.slice(own).forEach((t) => t.dispose());
        into[i] = this.withDerived(i, into[i]!.slice(0, own));
      }
    });
  }

  dispose(): void {
    this.ownOutput.forEach((t) => this.release(t));
    this.ownOutput.clear();
    this.ownGrad.forEach((g) => g.value.dispose());
    this.ownGrad.clear();
    this.pending.forEach((p) => [...p.saved, p.dy].forEach((t) => t.isDisposed || t.dispose()));
    this.pending = [];
    this.params.flat().forEach((t) => t.dispose());
    this.optimizer.dispose();
    this.saved.forEach((ts) => ts.forEach((t) => t.dispose()));
    this.saved.clear();
  }

  /**
   * Layer i's input, the first of segment k: the image; or, where the input is sharded, the other towers'
   * transfers with this tower's own output (kept since it computed it) in its place, in channel order;
   * or, after a row-split layer, the other towers' partial sums over the range layer i reads, summed in
   * tower order, plus this tower's own.
   */
  private assemble(i: number, input: TensorOut | Piece[], k: number, part: number): tf.Tensor {
    const planned = this.plan.layers[i]!;
    const need = planned.towers[this.tower]!.in;
    if (planned.inputReplicated) {
      if (Array.isArray(input)) throw new Error(`segment starting at ${planned.layer.name} expects the image, got ${input.length} transfers`);
      return tf.tensor(input.data, input.shape);
    }
    if (!Array.isArray(input)) throw new Error(`${planned.layer.name} expects transfers from other towers, got an image`);
    const mine = this.ownOutput.get(`${k - 1}:${part}`);
    if (!mine) throw new Error(`${planned.layer.name} of part ${part}: this tower's output of the segment before is missing`);
    this.ownOutput.delete(`${k - 1}:${part}`);
    const held = this.plan.layers[i - 1]!.towers[this.tower]!.out;
    const lead = mine.shape.slice(0, -1);
    const cut = (lo: number, hi: number): tf.Tensor => {
      if (lo === held.lo && hi === held.hi) return mine;
      return lastAxisSlice(mine, lo - held.lo, hi - held.lo);
    };
    let x: tf.Tensor;
    if (planned.input === 'partial') {
      if (input.length !== this.plan.towers - 1) throw new Error(`${planned.layer.name} expects ${this.plan.towers - 1} partial sums, got ${input.length}`);
      x = tf.add(tf.tensor(sumPieces(input, product(lead), need.lo, need.hi), [...lead, need.hi - need.lo]), cut(need.lo, need.hi));
    } else {
      const width = planned.layer.inShape[planned.layer.inShape.length - 1]!;
      const shards = shardsFor(width, this.plan.towers, need);
      const blocks = shards.map((s) => {
        const r = rangeIntersect(shardRange(width, s, this.plan.towers), need)!;
        if (s === this.tower) return cut(r.lo, r.hi);
        const got = input.find((p) => p.lo === r.lo && p.hi === r.hi);
        if (!got) throw new Error(`${planned.layer.name} reads channels [${r.lo}, ${r.hi}) of tower ${s}: not received`);
        return tf.tensor(got.data, [...lead, r.hi - r.lo]);
      });
      x = blocks.length === 1 ? blocks[0]! : tf.concat(blocks, -1);
    }
    // `mine` was kept outside this tidy: hand on a tidy-tracked handle if it is the input itself.
    if (x === mine) x = tf.clone(mine);
    if (!this.isSaved(mine)) mine.dispose();
    return x;
  }

  private release(t: tf.Tensor | undefined): void {
    if (t && !t.isDisposed && !this.isSaved(t)) t.dispose();
  }

  /**
   * Keep this tower's own part of layer i's input gradient (layer i starts segment k) for its backward of
   * segment k−1: the columns of its own shard, or after a row-split layer all of its dx (the input's
   * gradient is the sum of every tower's, and this is this tower's share of that sum). Runs inside
   * backward's tidy: what is kept is tf.keep'd.
   */
  private keepOwn(i: number, dx: tf.Tensor, k: number, part: number): void {
    const planned = this.plan.layers[i]!;
    const need = planned.towers[this.tower]!.in;
    const held = this.plan.layers[i - 1]!.towers[this.tower]!.out;
    if (planned.input === 'partial') {
      this.ownGrad.set(`${k - 1}:${part}`, { value: tf.keep(tf.clone(dx)), lo: need.lo - held.lo });
      return;
    }
    const r = rangeIntersect(held, need);
    if (!r) return;
    const whole = r.lo === need.lo && r.hi === need.hi;
    const t = whole ? tf.clone(dx) : lastAxisSlice(dx, r.lo - need.lo, r.hi - need.lo);
    this.ownGrad.set(`${k - 1}:${part}`, { value: tf.keep(t), lo: r.lo - held.lo });
  }

  private isSaved(t: tf.Tensor): boolean {
    for (const ts of this.saved.values()) if (ts.includes(t)) return true;
    return false;
  }

  /** Forget a stale forward of layer i (one that never got its backward). */
  private dropSaved(i: number, part: number): void {
    const key = `${i}:${part}`;
    const stale = this.saved.get(key);
    if (!stale) return;
    this.saved.delete(key);
    const live = new Set([...this.saved.values()].flat());
    stale.forEach((t) => live.has(t) || t.dispose());
  }
}
