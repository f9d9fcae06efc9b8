/**
 * The tower's socket loop: one Dealer, one `for await` over its messages, a `switch` on the kind and one
 * handler per kind (the zeromq.js majordomo shape). A malformed message is logged and dropped; a failing
 * handler reports an `error` to the coordinator; neither takes the process down.
 */
import { hostname } from 'node:os';
import { type BackendInfo, buildNet, COORDINATOR_TO_TOWER, decode, encode, type Header, KeyError, type KeyPair, type Kind, type Message, parseConfig, planSplit, ProtocolError } from '@alexnet/core';
import type { Logger } from 'pino';
import { Dealer } from 'zeromq';
import { type TensorOut, TowerModel } from './model.js';
import { WireModel } from './wire.js';

export interface TowerOptions {
  /** Coordinator endpoint, e.g. ipc:///tmp/alexnet-123/towers or tcp://10.0.0.1:5555. */
  connect: string;
  /** This tower's index among the towers (0-based). */
  index: number;
  backend: BackendInfo;
  log: Logger;
  /** The GPU it was given (--gpu), told to the coordinator with hello. */
  gpu?: string;
  /** CURVE: this tower's key pair, the coordinator's public key, and where they came from (for messages). */
  curve?: CurveClient;
}

export interface CurveClient {
  pair: KeyPair;
  serverKey: string;
  dir: string;
}

/** Socket options that make a Dealer a CURVE client of the coordinator. */
export const curveClientOptions = (c: CurveClient | undefined): object => (c ? { curveServerKey: c.serverKey, curvePublicKey: c.pair.publicKey, curveSecretKey: c.pair.secretKey } : {});

/** Handshakes that fail for no stated reason (a wrong coordinator key looks like this) before the tower gives up. */
const HANDSHAKE_ATTEMPTS = 5;

export class Tower {
  private readonly socket: Dealer;
  private model: TowerModel | WireModel | undefined;
  /** zeromq.js allows one pending send per socket; sends queue here. */
  private sending: Promise<void> = Promise.resolve();
  /** Why the tower gave up on the coordinator (its key refused, say); run() throws it. */
  private fatal: Error | undefined;

  constructor(private readonly opts: TowerOptions) {
    this.socket = new Dealer({ routingId: `tower-${opts.index}`, linger: 0, sendHighWaterMark: 0, receiveHighWaterMark: 0, ...curveClientOptions(opts.curve) });
  }

  /**
   * Serve until `shutdown`. Each connection to the coordinator (the first, and after the coordinator
   * restarted or the network dropped) starts afresh: the model is dropped and the tower says hello. A
   * `shutdown` with `rejoin` does the same without a new connection (the coordinator restarts its run).
   */
  async run(): Promise<void> {
    void this.watch();
    this.socket.connect(this.opts.connect);
    try {
      await this.serve();
    } catch (e) {
      if (!this.fatal) throw e; // else: the socket was closed under the loop on purpose
    }
    this.model?.dispose();
    if (this.fatal) throw this.fatal;
    await this.sending;
    this.socket.close();
  }

  private async serve(): Promise<void> {
    const { log } = this.opts;
    for await (const frames of this.socket) {
      let msg: Message;
      try {
        msg = decode(frames, COORDINATOR_TO_TOWER);
      } catch (e) {
        log.warn({ reason: (e as Error).message, frames: frames.length }, 'rejected message');
        continue;
      }
      if (msg.header.kind === 'shutdown') {
        if ((msg.header as Header<'shutdown'>).rejoin !== true) break;
        this.rejoin();
        continue;
      }
      try {
        await this.handle(msg);
      } catch (e) {
        const err = e as Error & { code?: string };
        log.error({ err, kind: msg.header.kind }, 'handler failed');
        await this.send('error', { code: err.code ?? 'E_TOWER', message: `tower ${this.opts.index}: ${msg.header.kind}: ${err.message}` });
      }
    }
  }

  /** Start afresh: no model until the next init, and a hello to say so. */
  private rejoin(): void {
    this.model?.dispose();
    this.model = undefined;
    const { index, gpu, backend } = this.opts;
    void this.send('hello', { tower: index, pid: process.pid, host: hostname(), device: backend.device, ...(gpu !== undefined ? { gpu } : {}) });
  }

  /** The socket's connection events: a new connection means a new session; a refused key ends the tower. */
  private async watch(): Promise<void> {
    const { connect, curve, index, log } = this.opts;
    let failures = 0;
    let connected = false;
    const name = `tower-${index}`;
    for await (const ev of this.socket.events) {
      switch (ev.type) {
        case 'handshake':
          failures = 0;
          connected = true;
          log.info({ coordinator: connect }, 'connected');
          this.rejoin();
          break;
        case 'disconnect':
          if (connected) log.warn({ coordinator: connect }, 'lost the coordinator; reconnecting');
          connected = false;
          break;
        case 'handshake:error:auth':
          return this.stop(new KeyError(`the coordinator at ${connect} refused this tower's key (${curve?.dir}/${name}.key_secret): its --keys directory has another ${name}.key; give both ends the same directory from \`coordinator keys\``));
        case 'handshake:error:protocol':
          if (ev.error.code === 'ERR_ZMTP_MECHANISM_MISMATCH') {
            return this.stop(new KeyError(curve ? `the coordinator at ${connect} does not use CURVE keys: give it --keys too` : `the coordinator at ${connect} only accepts towers with CURVE keys: give this tower --keys DIR (the coordinator's directory from \`coordinator keys\`)`));
          }
          log.warn({ coordinator: connect, code: ev.error.code }, 'handshake failed');
          break;
        case 'handshake:error:other':
          if (++failures >= HANDSHAKE_ATTEMPTS) {
            const hint = curve ? `is ${curve.dir}/coordinator.key the key of the coordinator listening there?` : 'does it expect CURVE keys (--keys)?';
            return this.stop(new KeyError(`the handshake with the coordinator at ${connect} failed ${failures} times (${ev.error.message}): ${hint}`));
          }
          break;
        default:
      }
    }
  }

  private stop(err: Error): void {
    this.fatal ??= err;
    this.socket.close();
  }

  private async handle(msg: Message): Promise<void> {
    const h = msg.header;
    switch (h.kind) {
      case 'init':
        return this.onInit(h as Header<'init'>);
      case 'forward':
        return this.onForward(h as Header<'forward'>, msg.tensors);
      case 'backward':
        return this.onBackward(h as Header<'backward'>, msg.tensors);
      case 'update':
        return this.onUpdate(h as Header<'update'>);
      case 'get_weights':
        return this.onGetWeights(h as Header<'get_weights'>);
      case 'load':
        return this.onLoad(h as Header<'load'>, msg.tensors);
      default:
        throw new ProtocolError(`unexpected ${h.kind}`);
    }
  }

  private async onInit(h: Header<'init'>): Promise<void> {
    if (h.tower !== this.opts.index) throw new ProtocolError(`init names tower ${h.tower}, this is tower ${this.opts.index}`);
    const config = parseConfig(h.config);
    const plan = planSplit(buildNet(config.net), h.towers);
    this.model?.dispose();
    if (h.compute !== undefined && h.compute !== 'none') throw new ProtocolError(`init: compute must be none when given, got ${JSON.stringify(h.compute)}`);
    this.model = h.compute === 'none' ? new WireModel(plan, this.opts.index, config.train.seed) : new TowerModel(plan, this.opts.index, config, h.profile === true);
    const b = this.opts.backend;
    await this.send('ready', { tower: this.opts.index, choice: b.choice, backend: b.name, device: b.device, gpu: b.gpu, params: this.model.paramCount, ...(b.fallback ? { fallback: b.fallback } : {}), ...(b.noGpu ? { noGpu: b.noGpu } : {}), ...(b.warning ? { warning: b.warning } : {}) });
  }

  private async onForward(h: Header<'forward'>, tensors: Float32Array[]): Promise<void> {
    const t0 = performance.now();
    const model = this.need();
    const inputs = tensors.map((data, i) => ({ data, shape: h.tensors[i]!.shape }));
    const y = model.forward(h.segment, inputs, { training: h.training, seed: model.seed, step: h.step, sampleOffset: h.sampleOffset }, h.part);
    await this.send('activation', { step: h.step, segment: h.segment, part: h.part, ms: 0, ...this.layers() }, [y], t0);
  }

  private async onBackward(h: Header<'backward'>, tensors: Float32Array[]): Promise<void> {
    const t0 = performance.now();
    const model = this.need();
    if (tensors.length !== 1) throw new ProtocolError(`backward carries ${tensors.length} tensors, expected 1`);
    const { parts, tensors: out } = model.backward(h.segment, { data: tensors[0]!, shape: h.tensors[0]!.shape }, h.part);
    await this.send('gradient', { step: h.step, segment: h.segment, part: h.part, parts, ms: 0, ...this.layers() }, out, t0);
  }

  private async onUpdate(h: Header<'update'>): Promise<void> {
    const t0 = performance.now();
    this.need().update(h.lr, h.step);
    await this.send('updated', { step: h.step, ms: 0, ...this.layers() }, [], t0);
  }

  private async onGetWeights(h: Header<'get_weights'>): Promise<void> {
    // `state`: with the optimizer's state, whichever slots it has (velocity, or Adam's m and v).
    const { params, tensors } = this.need().weights(h.state === true);
    await this.send('weights', { params }, tensors);
  }

  private async onLoad(h: Header<'load'>, tensors: Float32Array[]): Promise<void> {
    if (!Array.isArray(h.params)) throw new ProtocolError('load: params must be a list');
    this.need().load(h.params, tensors);
    await this.send('loaded', { params: tensors.length });
  }

  private need(): TowerModel | WireModel {
    if (!this.model) throw new ProtocolError('no init received yet');
    return this.model;
  }

  private layers(): { layers?: number[] } {
    const ms = this.model?.lastLayerMs ?? [];
    return ms.length ? { layers: ms } : {};
  }

  /** Queue a reply. With `since`, its `ms` field becomes the busy time from `since` to the encoded frames. */
  private send<K extends Kind>(kind: K, body: Omit<Header<K>, 'v' | 'kind' | 'tensors'>, tensors: TensorOut[] = [], since?: number): Promise<void> {
    const timed = since === undefined ? body : { ...body, ms: performance.now() - since };
    const frames = encode(kind, timed, tensors);
    this.sending = this.sending.then(() => this.socket.send(frames));
    return this.sending;
  }
}
