/**
 * The tower runs each micro-batch through every segment itself, exchanging with its peers at each
 * segment's first layer as the plan's exchange says (core's exchange.ts): a segment runs as soon as its
 * input is here (the image, or its own output of the segment before plus every peer's transfer), so
 * micro-batch k's transfers travel while micro-batch k+1 computes. Backward runs the same way from the
 * coordinator's ∂loss/∂logits. Per segment, micro-batches run in order (forward and backward), so the
 * gradients add up in the same order on every run.
 */
import { type Header, incoming, type Kind, outgoing, type Piece, type Plan, type StepContext } from '@alexnet/core';
import { exchangeKey, type Peers } from './peers.js';
import type { TensorOut } from './tensors.js';

/** What the pipeline needs of a model: the real one (model.ts) or the wire-only one (wire.ts). */
export interface SegmentModel {
  /** Segment k forward: this tower's transfers of the next exchange (in `outgoing` order), or the last segment's output. */
  forward(k: number, input: TensorOut | Piece[], ctx: StepContext, part: number, n: number): TensorOut[];
  /** Segment k backward: this tower's transfers of the gradient of the segment's input (none for segment 0). */
  backward(k: number, dy: Piece[], part: number, n: number): TensorOut[];
  /** Per-layer ms of the ops run since the last call, when profiling (else empty). */
  takeTimes(): { forward: number[]; backward: number[] };
}

interface PartState {
  h: Header<'forward'>;
  image: Promise<TensorOut> | undefined;
  ready: TensorOut | undefined;
  /** Segments done forward; the next backward segment (−1 when done). */
  fwd: number;
  bwd: number;
  dy: TensorOut | undefined;
  /** Transfers received for this micro-batch: their buffers go back to the pool when it is done. */
  received: Float32Array[];
}

export type Reply = <K extends Kind>(kind: K, body: Omit<Header<K>, 'v' | 'kind' | 'tensors'>, tensors?: TensorOut[]) => void;

export class Passes {
  private readonly parts = new Map<string, PartState>();
  /** Per pass and segment: how many micro-batches finished it, forward and backward. */
  private readonly counts = new Map<string, number>();
  private busy = 0;
  private running = false;
  private scheduled = false;
  /** A failure in a task: reported once, then the tower waits for the coordinator to stop the run. */
  onError: (e: Error) => void = () => {};

  constructor(
    private readonly plan: Plan,
    private readonly tower: number,
    private readonly model: SegmentModel,
    private readonly peers: Peers,
    private readonly reply: Reply,
    private readonly seed: number,
  ) {
    peers.onArrival = () => this.pump();
  }

  /** Busy ms since the last call. */
  takeBusy(): number {
    const b = this.busy;
    this.busy = 0;
    return b;
  }

  forward(h: Header<'forward'>, image: Promise<TensorOut> | TensorOut | undefined): void {
    this.forgetBefore(h.pass);
    const state: PartState = { h, image: undefined, ready: undefined, fwd: 0, bwd: this.plan.segments.length - 1, dy: undefined, received: [] };
    if (image instanceof Promise) {
      state.image = image;
      image.then(
        (x) => {
          state.ready = x;
          this.pump();
        },
        (e: Error) => this.onError(e),
      );
    } else state.ready = image ?? { data: new Float32Array(0), shape: [h.size, 0] };
    this.parts.set(`${h.pass}:${h.part}`, state);
    this.pump();
  }

  backward(h: Header<'backward'>, dy: TensorOut): void {
    const state = this.parts.get(`${h.pass}:${h.part}`);
    if (!state) throw new Error(`backward of pass ${h.pass} part ${h.part} without its forward`);
    state.dy = dy;
    this.pump();
  }

  private count(pass: number, dir: string, k: number): number {
    return this.counts.get(`${pass}:${dir}:${k}`) ?? 0;
  }

  private done(pass: number, dir: string, k: number): void {
    const key = `${pass}:${dir}:${k}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** Transfers of layer i's exchange that tower t still waits for (0 when all are here). */
  private missing(s: PartState, dir: 'forward' | 'backward', i: number): number {
    const ex = this.plan.layers[i]!.exchange;
    if (!ex) return 0;
    return incoming(ex, dir, this.tower).length - this.peers.peek(exchangeKey(s.h.pass, dir, i, s.h.part)).length;
  }

  /**
   * Run the ready task with the lowest micro-batch, then yield to the event loop before the next one: the
   * transfers a task queued are handed to ZeroMQ (whose I/O thread then moves them while the next task
   * computes), and transfers that arrived meanwhile are taken in. Running tasks back to back would hold
   * every send until the last one finished, and nothing would overlap.
   */
  private pump(): void {
    if (this.running || this.scheduled) return;
    this.running = true;
    try {
      const task = this.next();
      if (!task) return;
      const t0 = performance.now();
      task();
      this.busy += performance.now() - t0;
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.pump();
      });
    } catch (e) {
      this.onError(e as Error);
    } finally {
      this.running = false;
    }
  }

  private next(): (() => void) | undefined {
    const segments = this.plan.segments;
    let best: { s: PartState; run: () => void } | undefined;
    for (const s of this.parts.values()) {
      const { pass, part } = s.h;
      let run: (() => void) | undefined;
      if (s.fwd < segments.length) {
        const k = s.fwd;
        const ready = this.count(pass, 'f', k) === part && (k === 0 ? s.ready !== undefined : this.missing(s, 'forward', segments[k]!.first) === 0);
        if (ready) run = () => this.runForward(s, k);
      } else if (s.h.training && s.bwd >= 0) {
        const k = s.bwd;
        const ready = this.count(pass, 'b', k) === part && (k === segments.length - 1 ? s.dy !== undefined : this.missing(s, 'backward', segments[k + 1]!.first) === 0);
        if (ready) run = () => this.runBackward(s, k);
      }
      if (run && (!best || part < best.s.h.part)) best = { s, run };
    }
    return best?.run;
  }

  private runForward(s: PartState, k: number): void {
    const { h } = s;
    const seg = this.plan.segments[k]!;
    const ctx: StepContext = { training: h.training, seed: this.seed, step: h.step, sampleOffset: h.sampleOffset };
    const input = k === 0 ? s.ready! : this.received(s, 'forward', seg.first);
    const out = this.model.forward(k, input, ctx, h.part, h.size);
    s.fwd = k + 1;
    if (k === 0) s.ready = undefined;
    this.done(h.pass, 'f', k);
    if (k + 1 < this.plan.segments.length) {
      this.send(h, 'forward', this.plan.segments[k + 1]!.first, out);
      return;
    }
    const times = this.model.takeTimes();
    this.reply('activation', { pass: h.pass, part: h.part, ms: this.takeBusy(), ...layerTimes(times) }, out);
    if (!h.training) this.finish(s);
  }

  private runBackward(s: PartState, k: number): void {
    const { h } = s;
    const segments = this.plan.segments;
    const seg = segments[k]!;
    const held = this.plan.layers[seg.end - 1]!.towers[this.tower]!.out;
    const pieces = k === segments.length - 1 ? [{ lo: held.lo, hi: held.hi, data: s.dy!.data }] : this.received(s, 'backward', segments[k + 1]!.first);
    const out = this.model.backward(k, pieces, h.part, h.size);
    s.bwd = k - 1;
    this.done(h.pass, 'b', k);
    if (k > 0) {
      this.send(h, 'backward', seg.first, out);
      return;
    }
    this.finish(s);
    this.reply('gradient', { pass: h.pass, part: h.part, ms: this.takeBusy(), ...layerTimes(this.model.takeTimes()) });
  }

  /** The transfers of layer i's exchange in `dir` for this micro-batch, in tower order. */
  private received(s: PartState, dir: 'forward' | 'backward', i: number): Piece[] {
    const got = this.peers.take(exchangeKey(s.h.pass, dir, i, s.h.part)).sort((a, b) => a.header.from - b.header.from);
    for (const m of got) s.received.push(m.tensors[0]!);
    return got.map((m) => ({ lo: m.header.lo, hi: m.header.hi, data: m.tensors[0]! }));
  }

  /**
   * The micro-batch is done: its received buffers are reused. Only now, since a backend may keep a tensor's
   * values by reference (tfjs-backend-cpu does, tfjs-node until first use) and the model drops what it
   * saved for backward when backward has run.
   */
  private finish(s: PartState): void {
    this.parts.delete(`${s.h.pass}:${s.h.part}`);
    for (const a of s.received) this.peers.release(a);
    s.received = [];
  }

  /** Layer i's exchange in `dir`: this tower's transfers, as the model cut them (in `outgoing` order). */
  private send(h: Header<'forward'>, dir: 'forward' | 'backward', i: number, cuts: TensorOut[]): void {
    const ex = this.plan.layers[i]!.exchange;
    const transfers = ex ? outgoing(ex, dir, this.tower) : [];
    if (cuts.length !== transfers.length) throw new Error(`layer ${i} ${dir}: the model cut ${cuts.length} transfers, the plan has ${transfers.length}`);
    transfers.forEach((t, j) => this.peers.send(t.to, { pass: h.pass, part: h.part, layer: i, dir, lo: t.lo, hi: t.hi }, cuts[j]!));
  }

  /** A new pass: whatever an earlier one left (it stopped half way) is dropped. */
  private forgetBefore(pass: number): void {
    for (const [key, s] of this.parts) if (s.h.pass < pass) this.parts.delete(key);
    for (const key of this.counts.keys()) if (Number(key.split(':')[0]) < pass) this.counts.delete(key);
    this.peers.forget(pass);
  }
}

const layerTimes = (t: { forward: number[]; backward: number[] }): { forwardLayers?: number[]; backwardLayers?: number[] } => ({
  ...(t.forward.length ? { forwardLayers: t.forward } : {}),
  ...(t.backward.length ? { backwardLayers: t.backward } : {}),
});
