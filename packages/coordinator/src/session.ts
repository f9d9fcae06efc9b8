/**
 * A running set of towers for one config: launch, init, then train steps and evaluation driven segment by
 * segment along the split plan. This is where the exchange happens: forward gathers shards and hands each
 * tower those its range reads; backward sums the towers' partial gradients per shard.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BackendChoice, buildNet, type Config, type Header, type Message, type Plan, planSplit, product, shardRange, shardsFor, softmaxCrossEntropy } from '@alexnet/core';
import type { Logger } from 'pino';
import { concatLastAxis, type Part, sliceLastAxis, sumShard } from './exchange.js';
import { TowerProcesses } from './launch.js';
import { type Outgoing, TowerError, TowerLink } from './link.js';

export interface SessionOptions {
  config: Config;
  /** Device ids, one tower each (from --gpus). */
  devices: string[];
  backend: BackendChoice;
  gpu: boolean;
  log: Logger;
  towerLogLevel?: string;
}

export interface StepResult {
  loss: number;
  correct: number;
}

/** Where a step's time went, as seen from the coordinator (ms). */
export interface StepTiming {
  forward: number;
  backward: number;
  update: number;
  loss: number;
}

export class Session {
  readonly plan: Plan;
  readonly towers: number;
  readies: Header<'ready'>[] = [];
  private readonly link: TowerLink;
  private readonly procs: TowerProcesses;
  private readonly dir: string;
  private died: TowerError | undefined;

  private constructor(opts: SessionOptions) {
    this.towers = opts.devices.length;
    this.plan = planSplit(buildNet(opts.config.net), this.towers);
    this.dir = mkdtempSync(join(tmpdir(), 'alexnet-'));
    const endpoint = `ipc://${join(this.dir, 'towers.sock')}`;
    this.link = new TowerLink(endpoint, this.towers, opts.log);
    this.procs = new TowerProcesses({
      endpoint,
      towers: opts.devices.map((device, index) => ({ index, device })),
      backend: opts.backend,
      gpu: opts.gpu,
      logLevel: opts.towerLogLevel ?? 'warn',
      onDeath: (t, pid, why) => {
        const err = new TowerError(`tower ${t.index} (device ${t.device}, pid ${pid}) ${why}`);
        this.died ??= err;
        this.link.fail(err);
      },
    });
  }

  /** Launch the towers and initialise them; resolves when every tower holds its slice. */
  static async start(opts: SessionOptions): Promise<Session> {
    const s = new Session(opts);
    try {
      await s.link.bind();
      await s.link.all('hello');
      for (let t = 0; t < s.towers; t++) await s.link.send(t, 'init', { tower: t, towers: s.towers, config: opts.config });
      s.readies = (await s.link.all('ready')).map((m) => m.header);
      return s;
    } catch (e) {
      s.abort();
      throw s.died ?? e;
    }
  }

  get pids(): number[] {
    return this.procs.pids;
  }

  /** Error that stopped the session, if a tower died. */
  get deathCause(): TowerError | undefined {
    return this.died;
  }

  /**
   * Forward through every segment. Returns the full logits [batch, classes].
   * Each segment's outputs are kept (per tower) for the backward sums' row counts.
   */
  async forward(step: number, images: Float32Array, batch: number, training: boolean, timing?: StepTiming): Promise<Float32Array> {
    const t0 = performance.now();
    const image: Outgoing = { data: images, shape: [batch, ...this.plan.net.inputShape] };
    let outputs: Message<'activation'>[] = [];
    for (const seg of this.plan.segments) {
      const first = this.plan.layers[seg.first]!;
      for (let t = 0; t < this.towers; t++) {
        let inputs: Outgoing[];
        if (seg.index === 0) inputs = [image];
        else {
          const width = first.layer.inShape[first.layer.inShape.length - 1]!;
          inputs = shardsFor(width, this.towers, first.towers[t]!.in).map((s) => ({ data: outputs[s]!.tensors[0]!, shape: outputs[s]!.header.tensors[0]!.shape }));
        }
        void this.link.send(t, 'forward', { step, segment: seg.index, training, sampleOffset: 0 }, inputs);
      }
      outputs = await this.link.all('activation');
    }
    const last = this.plan.layers[this.plan.layers.length - 1]!;
    const logits = last.outputReplicated ? outputs[0]!.tensors[0]! : concatLastAxis(outputs.map((o) => o.tensors[0]!), batch);
    if (timing) timing.forward += performance.now() - t0;
    return logits;
  }

  /** Backward from ∂loss/∂logits through every segment, then one optimizer step on every tower. */
  async backward(step: number, dlogits: Float32Array, batch: number, timing?: StepTiming): Promise<void> {
    const t0 = performance.now();
    const lastLayer = this.plan.layers[this.plan.layers.length - 1]!;
    let dys: Float32Array[] = lastLayer.towers.map((s) => sliceLastAxis(dlogits, batch, s.out.lo, s.out.hi));
    let shapes: number[][] = lastLayer.towers.map((s) => [batch, s.out.hi - s.out.lo]);
    for (let k = this.plan.segments.length - 1; k >= 0; k--) {
      const seg = this.plan.segments[k]!;
      for (let t = 0; t < this.towers; t++) void this.link.send(t, 'backward', { step, segment: k }, [{ data: dys[t]!, shape: shapes[t]! }]);
      const grads = await this.link.all('gradient');
      if (k === 0) break;
      // Sum the partial input gradients per shard of the previous layer's output.
      const prev = this.plan.layers[seg.first - 1]!;
      const inShape = this.plan.layers[seg.first]!.layer.inShape;
      const width = inShape[inShape.length - 1]!;
      const rows = batch * product(inShape.slice(0, -1));
      const byShard: Part[][] = Array.from({ length: this.towers }, () => []);
      for (const g of grads) g.header.parts.forEach((meta, i) => byShard[meta.shard]!.push({ meta, data: g.tensors[i]! }));
      dys = byShard.map((parts, s) => {
        const r = shardRange(width, s, this.towers);
        return sumShard(parts, rows, r.lo, r.hi);
      });
      shapes = prev.towers.map((sl) => [batch, ...inShape.slice(0, -1), sl.out.hi - sl.out.lo]);
    }
    if (timing) timing.backward += performance.now() - t0;
  }

  async update(step: number, lr: number, timing?: StepTiming): Promise<void> {
    const t0 = performance.now();
    for (let t = 0; t < this.towers; t++) void this.link.send(t, 'update', { step, lr });
    await this.link.all('updated');
    if (timing) timing.update += performance.now() - t0;
  }

  /** One SGD step on a batch: forward, loss at the coordinator, backward, update. */
  async trainStep(step: number, images: Float32Array, labels: Int32Array, lr: number, timing?: StepTiming): Promise<StepResult> {
    const batch = labels.length;
    const logits = await this.forward(step, images, batch, true, timing);
    const t0 = performance.now();
    const { loss, correct, dlogits } = softmaxCrossEntropy(logits, labels, this.plan.net.classes);
    if (timing) timing.loss += performance.now() - t0;
    await this.backward(step, dlogits, batch, timing);
    await this.update(step, lr, timing);
    return { loss, correct };
  }

  /** The full (unsplit) parameters, assembled from every tower's slices: `layer/weight`, `layer/bias`. */
  async fullWeights(): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
    for (let t = 0; t < this.towers; t++) void this.link.send(t, 'get_weights', {});
    const replies = await this.link.all('weights');
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const r of replies) {
      r.header.params.forEach((p, i) => {
        const key = `${p.layer}/${p.param}`;
        const full = out.get(key) ?? { shape: p.fullShape, data: new Float32Array(product(p.fullShape)) };
        const cols = p.fullShape[p.fullShape.length - 1]!;
        const rows = full.data.length / cols;
        const w = p.hi - p.lo;
        const src = r.tensors[i]!;
        for (let row = 0; row < rows; row++) full.data.set(src.subarray(row * w, (row + 1) * w), row * cols + p.lo);
        out.set(key, full);
      });
    }
    return out;
  }

  /** Ask the towers to exit and wait for them. */
  async close(): Promise<void> {
    for (let t = 0; t < this.towers; t++) void this.link.send(t, 'shutdown', {}).catch(() => undefined);
    await this.procs.stop();
    this.link.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Kill every tower now. */
  abort(): void {
    this.link.fail(this.died ?? new TowerError('session aborted'));
    this.procs.killAll();
    this.link.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
