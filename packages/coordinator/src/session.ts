/**
 * A running set of towers for one config: launch, init, then train steps and evaluation. The coordinator
 * schedules: it tells every tower which micro-batches to run (and which images: a batch they render
 * themselves, or the images sent), gathers the logits, computes the loss and sends its gradient back.
 * The towers exchange with each other directly at the plan's exchanges (tower/src/passes.ts).
 */
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AlexnetError,
  type BackendChoice,
  type BatchSource,
  buildNet,
  type Config,
  concatLastAxis,
  type Header,
  type Message,
  OPTIMIZERS,
  optimizerSlots,
  type Plan,
  paramSlices,
  placeSlice,
  planSplit,
  product,
  type Store,
  sliceLastAxis,
  softmaxCrossEntropy,
  stateKey,
  sumPieces,
  takeSlice,
  type ViewMode,
  viewsPer,
} from '@alexnet/core';
import { sharedMemory } from '@alexnet/tower/shared_file';
import type { Logger } from 'pino';
import type { Data } from './data/index.js';
import { TowerProcesses } from './launch.js';
import { type Outgoing, TowerError, TowerLink } from './link.js';
import { checkActivation, checkGradient } from './replies.js';

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

/** Before its first heartbeat a tower may take this long to start (a process, its backend, its kernels). */
const STARTUP_GRACE_MS = 30_000;
const HEARTBEAT_TIMEOUT_MS = 10_000;
/** Towers beat, and the watchdog looks, five times per timeout (at most once a second). */
const beatEvery = (timeoutMs: number): number => Math.max(50, Math.min(1000, Math.floor(timeoutMs / 5)));

/** What the towers reported since the last reset: busy time and, when profiling, per-layer time (ms). */
export interface TowerStats {
  /** Per tower: time spent handling requests (compute and encoding its replies). */
  busy: number[];
  /** Per tower, per layer index: forward and backward time. */
  forward: number[][];
  backward: number[][];
}

export interface StepResult {
  loss: number;
  correct: number;
}

/** Where a step's time went, as seen from the coordinator (ms). */
export interface StepTiming {
  /** The pipelined forward and backward of all micro-batches. */
  pass: number;
  update: number;
  loss: number;
  /** Coordinator work between replies and the requests they trigger (sums, concatenation, slicing, loss). */
  exchange: number;
  /** Waiting for the loader threads' batch (0 when they keep ahead). */
  data: number;
}

interface MicroBatch {
  index: number;
  offset: number;
  size: number;
}

/** Cut a batch into `m` micro-batches of nearly equal size. */
export function microBatches(batch: number, m: number): MicroBatch[] {
  const count = Math.min(m, batch);
  return Array.from({ length: count }, (_, index) => {
    const offset = Math.floor((index * batch) / count);
    return { index, offset, size: Math.floor(((index + 1) * batch) / count) - offset };
  });
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
        s.hellos = await s.join(s.listener, opts.log);
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
      const data = opts.data && !opts.compute ? s.dataInit(opts.data) : undefined;
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

  /** Wait for every tower to connect to the listening link (each says hello), up to the listener's wait. */
  private async join(listener: Listener, log: Logger): Promise<Header<'hello'>[]> {
    const { link, waitMs } = listener;
    const joined = Array.from({ length: this.towers }, (): Header<'hello'> | undefined => undefined);
    log.info({ listen: link.endpoint, towers: this.towers }, `waiting for ${this.towers} towers to connect to ${link.endpoint}`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const missing = joined.flatMap((h, t) => (h ? [] : [t]));
        reject(
          new AlexnetError(
            'E_TOWERS',
            `waited ${waitMs / 1000} s for tower${missing.length > 1 ? 's' : ''} ${missing.join(', ')} to connect to ${link.endpoint}; start each with \`tower --connect tcp://THIS_HOST:PORT --index N --keys DIR\` (or wait longer: --tower-wait)`,
          ),
        );
      }, waitMs);
    });
    try {
      return await Promise.race([
        Promise.all(
          Array.from({ length: this.towers }, async (_, t) => {
            const h = (await link.hello(t)).header;
            joined[t] = h;
            log.info(
              { tower: t, host: h.host, pid: h.pid, gpu: h.gpu, device: h.device, peer: h.peer },
              `tower ${t} joined from ${h.host ?? '?'} (pid ${h.pid}${h.gpu !== undefined ? `, GPU ${h.gpu}` : ''})${h.device ? `: ${h.device}` : ''}; its peers reach it at ${h.peer ?? '?'}`,
            );
            return h;
          }),
        ),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * What towers need to render batches themselves: the store's files (a store held in memory is written
   * to this session's directory once) and the transform, its mean and scale as tensors.
   */
  private dataInit(data: Data): { header: object; tensors: { data: Float32Array; shape: number[] }[] } {
    const file = (s: Store, name: string): { shape: readonly number[]; dtype: string; count: number; file: string } => {
      let path = s.file;
      if (!path) {
        path = join(this.dir, `${name}.records`);
        writeFileSync(path, new Uint8Array(s.memory!));
      }
      return { shape: s.shape, dtype: s.dtype, count: s.count, file: path };
    };
    const { mean, scale, ...spec } = data.spec;
    return {
      header: { train: file(data.source.train, 'train'), test: file(data.source.test, 'test'), spec },
      tensors: [
        { data: mean, shape: [mean.length] },
        { data: scale, shape: [scale.length] },
      ],
    };
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

  /**
   * Declare a tower hung when its heartbeats stop for `timeoutMs` (before its first, `timeoutMs` or
   * `graceMs`, whichever is longer). Checked on a timer; if the timer itself fired late (this process was
   * busy and beats may still be queued in the socket), judge on the next tick.
   */
  private watch(timeoutMs: number, graceMs: number): NodeJS.Timeout {
    const every = beatEvery(timeoutMs);
    const started = performance.now();
    let last = started;
    const timer = setInterval(() => {
      const now = performance.now();
      const late = now - last > 2 * every;
      last = now;
      if (late) return;
      this.link.beats.forEach((beat, t) => {
        // a beat from before this session (a tower that joined an earlier one) counts from the start
        const silent = now - Math.max(beat, started);
        if (silent > (beat ? timeoutMs : Math.max(timeoutMs, graceMs))) this.lost(t, `sent no heartbeat for ${(silent / 1000).toFixed(1)} s: stopped or hung`);
      });
    }, every);
    timer.unref();
    return timer;
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
    timing?: StepTiming,
  ): Promise<{ logits: Float32Array; loss: number; correct: number }> {
    const { net } = this.plan;
    const imageSize = product(net.inputShape);
    const parts = microBatches(batch, this.microBatches);
    const logits = new Float32Array(batch * net.classes);
    const pass = this.passes++;
    const ref = images instanceof Float32Array ? undefined : images;
    if (ref && ref.count !== batch) throw new Error(`batch ${ref.batch} holds ${ref.count} images, the pass ${batch}`);
    let loss = 0;
    let correct = 0;
    for (const p of parts) {
      const body = { pass, step, part: p.index, size: p.size, training, sampleOffset: p.offset, ...(ref ? { batch: ref.batch } : {}) };
      const image = images instanceof Float32Array ? [{ data: images.subarray(p.offset * imageSize, (p.offset + p.size) * imageSize), shape: [p.size, ...net.inputShape] }] : [];
      for (let t = 0; t < this.towers; t++) void this.link.send(t, 'forward', body, image);
    }
    for (const p of parts) {
      const replies = await this.link.all('activation');
      this.check(replies, p);
      this.record(replies);
      const t0 = performance.now();
      const z = this.logitsOf(
        replies.map((r) => r.tensors[0]!),
        p.size,
        logits.subarray(p.offset * net.classes, (p.offset + p.size) * net.classes),
      );
      if (labels) {
        const r = softmaxCrossEntropy(z, labels.subarray(p.offset, p.offset + p.size), net.classes, batch);
        loss += r.loss * p.size;
        correct += r.correct;
        const dys = this.dlogitsFor(r.dlogits, p.size);
        for (let t = 0; t < this.towers; t++) void this.link.send(t, 'backward', { pass, part: p.index }, [dys[t]!]);
      }
      if (timing) {
        const ms = performance.now() - t0;
        timing.loss += ms;
        timing.exchange += ms;
      }
    }
    if (labels) {
      for (const p of parts) {
        const replies = await this.link.all('gradient');
        this.check(replies, p);
        this.record(replies);
      }
    }
    return { logits, loss: loss / batch, correct };
  }

  /** Replies must answer micro-batch `p` of this pass, shaped as the plan says; else the run stops. */
  private check(replies: Message<'activation' | 'gradient'>[], p: MicroBatch): void {
    const last = this.plan.layers[this.plan.layers.length - 1]!;
    try {
      replies.forEach((r, t) => {
        if (r.header.part !== p.index || r.header.pass !== this.passes - 1) {
          throw new TowerError(`tower ${t} answered pass ${r.header.pass} micro-batch ${r.header.part}, expected pass ${this.passes - 1} micro-batch ${p.index}`);
        }
        if (r.header.kind === 'gradient') return checkGradient(r as Message<'gradient'>, t);
        const out = last.towers[t]!.out;
        checkActivation(r as Message<'activation'>, t, [p.size, ...last.layer.outShape.slice(0, -1), out.hi - out.lo]);
      });
    } catch (e) {
      this.link.fail(e as Error);
      throw e;
    }
  }

  /** The logits [n, classes] from the towers' outputs of the last layer, written into `into`. */
  private logitsOf(outs: Float32Array[], n: number, into: Float32Array): Float32Array {
    const last = this.plan.layers[this.plan.layers.length - 1]!;
    const classes = this.plan.net.classes;
    const z =
      last.output === 'partial'
        ? sumPieces(
            outs.map((data) => ({ lo: 0, hi: classes, data })),
            n,
            0,
            classes,
            into,
          )
        : last.output === 'replicated'
          ? outs[0]!
          : concatLastAxis(outs, n);
    if (z !== into) into.set(z);
    return into;
  }

  /** Each tower's share of ∂loss/∂logits. */
  private dlogitsFor(dlogits: Float32Array, n: number): Outgoing[] {
    const last = this.plan.layers[this.plan.layers.length - 1]!;
    if (last.output !== 'sharded') return last.towers.map(() => ({ data: dlogits, shape: [n, this.plan.net.classes] }));
    return last.towers.map((s) => ({ data: sliceLastAxis(dlogits, n, s.out.lo, s.out.hi), shape: [n, s.out.hi - s.out.lo] }));
  }

  /** Forward only (dropout off unless `training`): the logits [batch, classes]. */
  async forward(step: number, images: Images, batch: number, training: boolean, timing?: StepTiming): Promise<Float32Array> {
    const t0 = performance.now();
    const { logits } = await this.pass(step, images, undefined, batch, training, timing);
    if (timing) timing.pass += performance.now() - t0;
    return logits;
  }

  /** Apply the gradients of batch `step` (0-based; Adam's bias correction counts t = step + 1 from it). */
  async update(step: number, lr: number, timing?: StepTiming): Promise<void> {
    const t0 = performance.now();
    for (let t = 0; t < this.towers; t++) void this.link.send(t, 'update', { step, lr });
    const replies = await this.link.all('updated');
    this.record(replies); // with the deferred parameter gradients
    replies.forEach((r, t) => (this.peerBytes[t] = { sent: r.header.peerSent, received: r.header.peerReceived }));
    if (timing) timing.update += performance.now() - t0;
  }

  /** One SGD step on a batch: the pipelined forward, loss and backward of its micro-batches, then one update. */
  async trainStep(step: number, images: Images, labels: Int32Array, lr: number, timing?: StepTiming): Promise<StepResult> {
    const t0 = performance.now();
    const { loss, correct } = await this.pass(step, images, labels, labels.length, true, timing);
    if (timing) timing.pass += performance.now() - t0;
    await this.update(step, lr, timing);
    return { loss, correct };
  }

  /**
   * The full (unsplit) parameters, assembled from every tower's slices: `layer/weight`, `layer/bias`; with
   * `state`, also the optimizer's state as `layer/weight@velocity`, … (SGD) or `layer/weight@m`,
   * `layer/weight@v`, … (Adam): a checkpoint's state, independent of the tower count.
   */
  async fullWeights(state = false): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
    for (let t = 0; t < this.towers; t++) void this.link.send(t, 'get_weights', { state });
    const replies = await this.link.all('weights');
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const r of replies) {
      r.header.params.forEach((p, i) => {
        const key = stateKey(p);
        const full = out.get(key) ?? { shape: p.fullShape, data: new Float32Array(product(p.fullShape)) };
        placeSlice(full.data, p.fullShape, p.axis, p.lo, p.hi, r.tensors[i]!);
        out.set(key, full);
      });
    }
    return out;
  }

  /**
   * Load full parameters and the configured optimizer's state (as `fullWeights(true)` returns them) into
   * every tower's slices.
   */
  async load(state: ReadonlyMap<string, { shape: number[]; data: Float32Array }>): Promise<void> {
    const slots = optimizerSlots(this.optimizer);
    for (let t = 0; t < this.towers; t++) {
      const slices = paramSlices(this.plan, t).map((s) => s.meta);
      const metas = [...slices, ...slots.flatMap((slot) => slices.map((m) => ({ ...m, slot })))];
      const tensors = metas.map((m) => {
        const key = stateKey(m);
        const full = state.get(key);
        if (!full) {
          // State of another optimizer (an SGD checkpoint resumed with Adam, say): say so.
          const other = OPTIMIZERS.find((k) => k !== this.optimizer && m.slot && optimizerSlots(k).every((s) => state.has(stateKey({ ...m, slot: s }))));
          const why = other
            ? `: it holds ${other} state (${optimizerSlots(other)
                .map((s) => `@${s}`)
                .join(', ')}), this config's optimizer is ${this.optimizer}`
            : '';
          throw new AlexnetError('E_CHECKPOINT', `the checkpoint has no ${key}${why}`);
        }
        if (full.shape.join('×') !== m.fullShape.join('×'))
          throw new AlexnetError('E_CHECKPOINT', `the checkpoint's ${key} is ${full.shape.join('×')}, this net's ${m.fullShape.join('×')}`);
        const data = takeSlice(full.data, full.shape, m.axis, m.lo, m.hi);
        return { data, shape: [data.length] };
      });
      void this.link.send(t, 'load', { params: metas }, tensors);
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
