/**
 * A running set of towers for one config: launch, init, then train steps and evaluation. The coordinator
 * schedules: it tells every tower which micro-batches to run (and which images: a batch they render
 * themselves, or the images sent), gathers the logits, computes the loss and sends its gradient back.
 * The towers exchange with each other directly at the plan's exchanges (tower/src/passes.ts).
 */
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BackendChoice,
  type BatchSource,
  buildNet,
  type Config,
  type Header,
  type Message,
  type Plan,
  planSplit,
  product,
  softmaxCrossEntropy,
  type ViewMode,
  viewsPer,
} from '@alexnet/core';
import { sharedMemory } from '@alexnet/tower/shared_file';
import type { Logger } from 'pino';
import type { Data } from '../data/index.js';
import { joinTowers, renderData } from './join.js';
import { TowerProcesses } from './launch.js';
import { TowerError, TowerLink } from './link.js';
import { dlogitsFor, logitsOf, type MicroBatch, microBatches } from './logits.js';
import { checkReplies } from './replies.js';
import type { StepResult, TowerStats } from './step.js';
import { beatEvery, HEARTBEAT_TIMEOUT_MS, STARTUP_GRACE_MS, watchHeartbeats } from './watchdog.js';
import { assemble, type FullTensors, slicesFor } from './weights.js';

export interface SessionOptions {
  config: Config;
  /** Device ids, one tower each (from --gpus). */
  devices: string[];
  backend: BackendChoice;
  gpu: boolean;
  log: Logger;
  towerLogLevel?: string;
  /** Towers time every layer op and report it (for `bench`). */
  profile?: boolean;
  /** `none`: towers skip the arithmetic and answer with zeros of the right shapes (the wire alone). */
  compute?: 'none';
  /** The towers' links to each other (default: stream on GPUs and with compute none, else zmq). */
  peerTransport?: 'shm' | 'stream' | 'zmq';
  /** A tower that sends no heartbeat for this long is declared hung (default 10 s). */
  heartbeatTimeoutMs?: number;
  /** Towers on other hosts: they connect to this bound link, nothing is spawned. */
  listener?: Listener;
  /** The data: towers that can read its store render their own batches (see `batches`). */
  data?: Data;
}

/** A batch the towers rendered themselves: its id and how many images (views) it holds. */
export interface BatchRef {
  batch: number;
  count: number;
}

/** A batch's images as a pass takes them: sent to the towers, or rendered by them. */
export type Images = Float32Array | BatchRef;

/** A coordinator started with --listen: its socket, bound once for every session (restarts) of the run. */
export interface Listener {
  link: TowerLink;
  /** How long to wait for every tower to connect. */
  waitMs: number;
}

export class Session {
  readonly plan: Plan;
  readonly towers: number;
  readies: Header<'ready'>[] = [];
  /** What each tower said on connecting: its pid, and with --listen its host and GPU. */
  hellos: Header<'hello'>[] = [];
  private readonly link: TowerLink;
  /** Spawned towers; none with --listen. */
  private readonly procs: TowerProcesses | undefined;
  private readonly listener: Listener | undefined;
  private readonly dir: string;
  private died: TowerError | undefined;
  private readonly devices: string[];
  private readonly microBatches: number;
  private watchdog: NodeJS.Timeout | undefined;
  private readonly heartbeatTimeoutMs: number;
  /** The configured optimizer: which state slots the towers hold (and checkpoints carry). */
  private readonly optimizer: Config['train']['optimizer']['kind'];
  stats: TowerStats;
  /** Every tower renders its own batches from the store (said in its ready). */
  rendering = false;
  private passes = 0;
  private prepared = 0;
  /** Per tower: payload bytes through its peer sockets, as it last reported. */
  private peerBytes: { sent: number; received: number }[];

  private constructor(opts: SessionOptions) {
    this.optimizer = opts.config.train.optimizer.kind;
    this.towers = opts.devices.length;
    this.plan = planSplit(buildNet(opts.config.net), this.towers);
    this.stats = this.resetStats();
    this.peerBytes = Array.from({ length: this.towers }, () => ({ sent: 0, received: 0 }));
    this.microBatches = opts.config.train.micro_batches;
    this.devices = opts.devices;
    this.heartbeatTimeoutMs = opts.heartbeatTimeoutMs ?? HEARTBEAT_TIMEOUT_MS;
    this.listener = opts.listener;
    this.dir = mkdtempSync(join(tmpdir(), 'alexnet-'));
    if (opts.listener) {
      this.link = opts.listener.link;
      this.link.reset();
      return;
    }
    const endpoint = `ipc://${join(this.dir, 'towers.sock')}`;
    this.link = new TowerLink(endpoint, this.towers, opts.log);
    this.procs = new TowerProcesses({
      endpoint,
      dir: this.dir,
      towers: opts.devices.map((device, index) => ({ index, device })),
      backend: opts.backend,
      gpu: opts.gpu,
      logLevel: opts.towerLogLevel ?? 'warn',
      heartbeatMs: beatEvery(this.heartbeatTimeoutMs),
      warmMalloc: opts.gpu || opts.compute === 'none',
      // Every tower is on this host. Where the wire sets the speed (GPUs, the wire-only bench): tensors
      // through shared memory, else stream links. wasm towers trained faster on ZeroMQ (docs/benchmarks.md).
      peerTransport: opts.peerTransport ?? (opts.gpu || opts.compute === 'none' ? (sharedMemory() ? 'shm' : 'stream') : 'zmq'),
      onDeath: (t, pid, why) => this.lost(t.index, why, pid),
    });
    this.watchdog = this.watch(this.heartbeatTimeoutMs, STARTUP_GRACE_MS);
  }

  /** Launch the towers (or with --listen wait for them) and initialise them; resolves when every tower holds its slice. */
  static async start(opts: SessionOptions): Promise<Session> {
    const s = new Session(opts);
    try {
      if (s.listener) {
        s.hellos = await joinTowers(s.listener, s.towers, opts.log);
        s.watchdog = s.watch(s.heartbeatTimeoutMs, 0); // they beat already
      } else {
        await s.link.bind();
        s.hellos = await Promise.all(Array.from({ length: s.towers }, (_, t) => s.link.hello(t).then((m) => m.header)));
      }
      const peers = s.hellos.map((h, t) => {
        if (!h.peer) throw new TowerError(`tower ${t} did not say where its peers reach it (a tower older than this coordinator?)`);
        return h.peer;
      });
      const session = randomInt(2 ** 31);
      const data = opts.data && !opts.compute ? renderData(opts.data, s.dir) : undefined;
      for (let t = 0; t < s.towers; t++) {
        const body = {
          tower: t,
          towers: s.towers,
          config: opts.config,
          session,
          peers,
          profile: opts.profile === true,
          ...(opts.compute ? { compute: opts.compute } : {}),
          ...(data ? { data: data.header } : {}),
        };
        await s.link.send(t, 'init', body, data?.tensors ?? []);
      }
      s.readies = (await s.link.all('ready')).map((m) => m.header);
      s.rendering = data !== undefined && s.readies.every((r) => r.data === true);
      s.readies.forEach((r, t) => opts.log.info({ tower: t, backend: r.backend, device: r.device, gpu: r.gpu }, `tower ${t} computes on ${r.device}`));
      return s;
    } catch (e) {
      s.abort();
      throw s.died ?? e;
    }
  }

  /**
   * Where a pass's images come from: with towers that render their own, asking for a batch sends them its
   * sample indices (they start rendering in their loader threads) and gives back its id; else `loader`'s
   * threads render it here and the images are sent.
   */
  batches(loader: BatchSource<Float32Array>): BatchSource<Images> {
    if (!this.rendering) return loader;
    return {
      batch: (split: 'train' | 'test', indices: Uint32Array, mode: ViewMode, keyBase = 0): Promise<Images> => {
        const batch = this.prepared++;
        const spec = { batch, split, indices: Array.from(indices), mode, keyBase };
        for (let t = 0; t < this.towers; t++) void this.link.send(t, 'prepare', spec);
        return Promise.resolve({ batch, count: indices.length * viewsPer(mode) });
      },
    };
  }

  /** Declare a tower hung when its heartbeats stop for `timeoutMs` (see watchHeartbeats). */
  private watch(timeoutMs: number, graceMs: number): NodeJS.Timeout {
    return watchHeartbeats(
      () => this.link.beats,
      timeoutMs,
      graceMs,
      (t, why) => this.lost(t, why),
    );
  }

  /** Tower t is gone (dead or hung): the first cause is kept, and everything waiting on the towers fails. */
  private lost(t: number, why: string, pid = this.procs?.children[t]?.pid ?? this.hellos[t]?.pid): void {
    const h = this.hellos[t];
    const where = this.listener ? `host ${h?.host ?? '?'}${h?.gpu !== undefined ? `, GPU ${h.gpu}` : ''}` : `device ${this.devices[t]}`;
    const err = new TowerError(`tower ${t} (${where}, pid ${pid}) ${why}`);
    this.died ??= err;
    this.link.fail(err);
    clearInterval(this.watchdog);
  }

  /** Start counting tower stats afresh; returns the new (empty) stats. */
  resetStats(): TowerStats {
    const layers = (): number[][] => Array.from({ length: this.towers }, () => new Array<number>(this.plan.layers.length).fill(0));
    this.stats = { busy: new Array<number>(this.towers).fill(0), forward: layers(), backward: layers() };
    return this.stats;
  }

  /**
   * Payload bytes since the session started: sent and received by the coordinator, and through each tower
   * (its peer sockets, as of its last update, and its link to the coordinator).
   */
  get bytes(): { sent: number; received: number; towers: { sent: number; received: number }[] } {
    const link = this.link.bytes;
    const towers = this.peerBytes.map((p, t) => ({ sent: p.sent + link.perTower[t]!.received, received: p.received + link.perTower[t]!.sent }));
    return { sent: link.sent, received: link.received, towers };
  }

  private record(replies: Message<'activation' | 'gradient' | 'updated'>[]): void {
    replies.forEach((m, t) => {
      this.stats.busy[t]! += m.header.ms;
      const { forwardLayers, backwardLayers } = m.header;
      forwardLayers?.forEach((ms, j) => (this.stats.forward[t]![j]! += ms));
      backwardLayers?.forEach((ms, j) => (this.stats.backward[t]![j]! += ms));
    });
  }

  get pids(): number[] {
    return this.procs?.pids ?? this.hellos.map((h) => h.pid);
  }

  /** Error that stopped the session, if a tower died. */
  get deathCause(): TowerError | undefined {
    return this.died;
  }

  /**
   * The pipelined pass over one batch. The batch is cut into micro-batches (train.micro_batches) and every
   * tower is told to run all of them at once: each tower runs a micro-batch's segments as their inputs
   * arrive from its peers, so one micro-batch's transfers travel while another computes. As each
   * micro-batch's logits come in (in order), the coordinator computes its loss and sends every tower its
   * share of ∂loss/∂logits; the towers then run backward the same way. Gradients accumulate on the towers;
   * the caller then sends one update for the whole batch.
   */
  private async pass(
    step: number,
    images: Images,
    labels: Int32Array | undefined,
    batch: number,
    training: boolean,
  ): Promise<{ logits: Float32Array; loss: number; correct: number; lossMs: number }> {
    const { net } = this.plan;
    const imageSize = product(net.inputShape);
    const parts = microBatches(batch, this.microBatches);
    const logits = new Float32Array(batch * net.classes);
    const pass = this.passes++;
    const ref = images instanceof Float32Array ? undefined : images;
    if (ref && ref.count !== batch) throw new Error(`batch ${ref.batch} holds ${ref.count} images, the pass ${batch}`);
    let loss = 0;
    let correct = 0;
    let lossMs = 0;
    for (const p of parts) {
      const body = { pass, step, part: p.index, size: p.size, training, sampleOffset: p.offset, ...(ref ? { batch: ref.batch } : {}) };
      const image = images instanceof Float32Array ? [{ data: images.subarray(p.offset * imageSize, (p.offset + p.size) * imageSize), shape: [p.size, ...net.inputShape] }] : [];
      for (let t = 0; t < this.towers; t++) void this.link.send(t, 'forward', body, image);
    }
    for (const p of parts) {
      const replies = await this.link.all('activation');
      this.check(replies, p, pass);
      this.record(replies);
      const t0 = performance.now();
      const into = logits.subarray(p.offset * net.classes, (p.offset + p.size) * net.classes);
      const z = logitsOf(
        this.plan,
        replies.map((r) => r.tensors[0]!),
        p.size,
        into,
      );
      if (labels) {
        const r = softmaxCrossEntropy(z, labels.subarray(p.offset, p.offset + p.size), net.classes, batch);
        loss += r.loss * p.size;
        correct += r.correct;
        const dys = dlogitsFor(this.plan, r.dlogits, p.size);
        for (let t = 0; t < this.towers; t++) void this.link.send(t, 'backward', { pass, part: p.index }, [dys[t]!]);
      }
      lossMs += performance.now() - t0;
    }
    if (labels) {
      for (const p of parts) {
        const replies = await this.link.all('gradient');
        this.check(replies, p, pass);
        this.record(replies);
      }
    }
    return { logits, loss: loss / batch, correct, lossMs };
  }

  /** The logits [batch, classes] of a batch, dropout off: evaluation and prediction. */
  async infer(images: Images, batch: number): Promise<Float32Array> {
    return (await this.pass(-1, images, undefined, batch, false)).logits;
  }

  /** One SGD step on a batch: the pipelined forward, loss and backward of its micro-batches, then one update. */
  async trainStep(step: number, images: Images, labels: Int32Array, lr: number): Promise<StepResult> {
    const t0 = performance.now();
    const { loss, correct, lossMs } = await this.pass(step, images, labels, labels.length, true);
    const t1 = performance.now();
    await this.update(step, lr);
    return { loss, correct, timing: { pass: t1 - t0, update: performance.now() - t1, loss: lossMs, exchange: lossMs, data: 0 } };
  }

  /** Apply the gradients of batch `step` (0-based; Adam's bias correction counts t = step + 1 from it). */
  private async update(step: number, lr: number): Promise<void> {
    for (let t = 0; t < this.towers; t++) void this.link.send(t, 'update', { step, lr });
    const replies = await this.link.all('updated');
    this.record(replies); // with the deferred parameter gradients
    replies.forEach((r, t) => {
      this.peerBytes[t] = { sent: r.header.peerSent, received: r.header.peerReceived };
    });
  }

  /** A step's replies must answer it as the plan says; else the run stops. */
  private check(replies: Message<'activation' | 'gradient'>[], p: MicroBatch, pass: number): void {
    try {
      checkReplies(this.plan, replies, p, pass);
    } catch (e) {
      this.link.fail(e as Error);
      throw e;
    }
  }

  /**
   * The full (unsplit) parameters, assembled from every tower's slices: `layer/weight`, `layer/bias`; with
   * `state`, also the optimizer's state as `layer/weight@velocity`, … (SGD) or `layer/weight@m`,
   * `layer/weight@v`, … (Adam): a checkpoint's state, independent of the tower count.
   */
  async fullWeights(state = false): Promise<FullTensors> {
    for (let t = 0; t < this.towers; t++) void this.link.send(t, 'get_weights', { state });
    return assemble(await this.link.all('weights'));
  }

  /** Load full parameters and the configured optimizer's state (as `fullWeights(true)` returns them) into every tower's slices. */
  async load(state: ReadonlyMap<string, { shape: number[]; data: Float32Array }>): Promise<void> {
    for (let t = 0; t < this.towers; t++) {
      const { params, tensors } = slicesFor(this.plan, this.optimizer, t, state);
      void this.link.send(t, 'load', { params }, tensors);
    }
    await this.link.all('loaded');
  }

  /** Ask the towers to exit and wait for them (towers on other hosts: until the request is sent). */
  async close(): Promise<void> {
    clearInterval(this.watchdog);
    const sent = Array.from({ length: this.towers }, (_, t) => this.link.send(t, 'shutdown', {}).catch(() => undefined));
    if (this.procs) {
      await this.procs.stop();
      this.link.close();
    } else await Promise.all(sent);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Kill every tower now; towers on other hosts are told to drop their state and rejoin (a restart may follow). */
  abort(): void {
    clearInterval(this.watchdog);
    this.link.fail(this.died ?? new TowerError('session aborted'));
    if (this.procs) {
      this.procs.killAll();
      this.link.close();
    } else for (let t = 0; t < this.towers; t++) void this.link.notify(t, 'shutdown', { rejoin: true });
    rmSync(this.dir, { recursive: true, force: true });
  }
}
