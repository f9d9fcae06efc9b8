/**
 * The tower's socket loop: one Dealer, one `for await` over its messages, a `switch` on the kind and one
 * handler per kind (the zeromq.js majordomo shape). A malformed message is logged and dropped; a failing
 * handler reports an `error` to the coordinator; neither takes the process down.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import {
  AlexnetError,
  type BackendInfo,
  buildNet,
  COORDINATOR_TO_TOWER,
  decode,
  encode,
  type Header,
  KeyError,
  type KeyPair,
  type Kind,
  Loader,
  type Message,
  ProtocolError,
  parseConfig,
  planSplit,
  product,
  type Store,
  type TransformSpec,
} from '@alexnet/core';
import type { Logger } from 'pino';
import { Dealer } from 'zeromq';
import { TowerModel } from './model.js';
import { Passes } from './passes.js';
import { Peers, type PeerTransportName } from './peers.js';
import type { TensorOut } from './tensors.js';
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
  /** Where the other towers reach this one (bound before the first hello; a tcp port of 0 is chosen). */
  peer: string;
  /** How: plain streams or ZeroMQ (peers.ts). */
  peerTransport: PeerTransportName;
  /** The address to tell the others when `peer` binds every interface (tcp://0.0.0.0:…). */
  advertise?: (bound: string) => string;
}

/** What init's `data` says: the stored records (files this tower may be able to read) and the transform. */
interface DataInit {
  train: Pick<Store, 'shape' | 'dtype' | 'count' | 'file'>;
  test: Pick<Store, 'shape' | 'dtype' | 'count' | 'file'>;
  spec: Omit<TransformSpec, 'mean' | 'scale'>;
}

export interface CurveClient {
  pair: KeyPair;
  serverKey: string;
  dir: string;
}

/** Socket options that make a Dealer a CURVE client of the coordinator. */
export const curveClientOptions = (c: CurveClient | undefined): object =>
  c ? { curveServerKey: c.serverKey, curvePublicKey: c.pair.publicKey, curveSecretKey: c.pair.secretKey } : {};

/** Handshakes that fail for no stated reason (a wrong coordinator key looks like this) before the tower gives up. */
const HANDSHAKE_ATTEMPTS = 5;

export class Tower {
  private readonly socket: Dealer;
  private model: TowerModel | WireModel | undefined;
  private passes: Passes | undefined;
  private readonly peers: Peers;
  private peerEndpoint = '';
  /** This tower's loader thread, when it renders its own batches; and the batches asked for. */
  private loader: Loader | undefined;
  private readonly batches = new Map<number, Promise<Float32Array>>();
  private imageSize = 0;
  /** zeromq.js allows one pending send per socket; sends queue here. */
  private sending: Promise<void> = Promise.resolve();
  /** Why the tower gave up on the coordinator (its key refused, say); run() throws it. */
  private fatal: Error | undefined;

  constructor(private readonly opts: TowerOptions) {
    this.socket = new Dealer({ routingId: `tower-${opts.index}`, linger: 0, sendHighWaterMark: 0, receiveHighWaterMark: 0, ...curveClientOptions(opts.curve) });
    this.peers = new Peers(opts.index, opts.log, opts.peerTransport, opts.curve ? { pair: opts.curve.pair, dir: opts.curve.dir } : undefined);
  }

  /**
   * Serve until `shutdown`. Each connection to the coordinator (the first, and after the coordinator
   * restarted or the network dropped) starts afresh: the model is dropped and the tower says hello. A
   * `shutdown` with `rejoin` does the same without a new connection (the coordinator restarts its run).
   */
  async run(): Promise<void> {
    let bound: string;
    try {
      bound = await this.peers.bind(this.opts.peer);
    } catch (e) {
      throw new AlexnetError('E_PEER', `cannot bind the peer socket at ${this.opts.peer} (${(e as Error).message}): give --peer another endpoint`);
    }
    this.peerEndpoint = this.opts.advertise ? this.opts.advertise(bound) : bound;
    void this.watch();
    this.socket.connect(this.opts.connect);
    try {
      await this.serve();
    } catch (e) {
      if (!this.fatal) throw e; // else: the socket was closed under the loop on purpose
    }
    this.drop();
    await this.peers.close();
    if (this.fatal) throw this.fatal;
    await this.sending;
    this.socket.close();
  }

  /** Forget the model, its passes and any batches (a new session starts from init). */
  private drop(): void {
    this.model?.dispose();
    this.model = undefined;
    this.passes = undefined;
    this.batches.clear();
    void this.loader?.close();
    this.loader = undefined;
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
        if (msg.header.rejoin !== true) break;
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
    this.drop();
    const { index, gpu, backend } = this.opts;
    void this.send('hello', { tower: index, pid: process.pid, host: hostname(), device: backend.device, peer: this.peerEndpoint, ...(gpu !== undefined ? { gpu } : {}) });
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
          return this.stop(
            new KeyError(
              `the coordinator at ${connect} refused this tower's key (${curve?.dir}/${name}.key_secret): its --keys directory has another ${name}.key; give both ends the same directory from \`coordinator keys\``,
            ),
          );
        case 'handshake:error:protocol':
          if (ev.error.code === 'ERR_ZMTP_MECHANISM_MISMATCH') {
            return this.stop(
              new KeyError(
                curve
                  ? `the coordinator at ${connect} does not use CURVE keys: give it --keys too`
                  : `the coordinator at ${connect} only accepts towers with CURVE keys: give this tower --keys DIR (the coordinator's directory from \`coordinator keys\`)`,
              ),
            );
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
        return this.onInit(h, msg.tensors);
      case 'prepare':
        return this.onPrepare(h);
      case 'forward':
        return this.onForward(h, msg.tensors);
      case 'backward':
        return this.onBackward(h, msg.tensors);
      case 'update':
        return this.onUpdate(h);
      case 'get_weights':
        return this.onGetWeights(h);
      case 'load':
        return this.onLoad(h, msg.tensors);
      default:
        throw new ProtocolError(`unexpected ${h.kind}`);
    }
  }

  private async onInit(h: Header<'init'>, tensors: Float32Array[]): Promise<void> {
    const { index } = this.opts;
    if (h.tower !== index) throw new ProtocolError(`init names tower ${h.tower}, this is tower ${index}`);
    if (h.peers.length !== h.towers) throw new ProtocolError(`init lists ${h.peers.length} peer endpoints for ${h.towers} towers`);
    const config = parseConfig(h.config);
    const plan = planSplit(buildNet(config.net), h.towers);
    this.drop();
    const model = h.compute === 'none' ? new WireModel(plan, index) : new TowerModel(plan, index, config, h.profile === true);
    this.model = model;
    this.imageSize = product(plan.net.inputShape);
    const data = h.compute === 'none' ? false : this.openData(h.data, tensors, config.data.workers, h.towers);
    this.peers.connect(h.session, h.peers);
    this.passes = new Passes(plan, index, model, this.peers, (kind, body, out) => void this.send(kind, body, out), config.train.seed);
    this.passes.onError = (e) => void this.send('error', { code: (e as { code?: string }).code ?? 'E_TOWER', message: `tower ${index}: ${e.message}` });
    const b = this.opts.backend;
    await this.send('ready', {
      tower: index,
      choice: b.choice,
      backend: b.name,
      device: b.device,
      gpu: b.gpu,
      params: model.paramCount,
      data,
      ...(b.fallback ? { fallback: b.fallback } : {}),
      ...(b.noGpu ? { noGpu: b.noGpu } : {}),
      ...(b.warning ? { warning: b.warning } : {}),
    });
  }

  /**
   * Render batches here when the store's files can be read (towers on the coordinator's host; on other
   * hosts, where the same path holds the same records): then no image crosses the wire. One loader thread
   * per tower, of the config's data.workers shared out.
   */
  private openData(raw: unknown, tensors: Float32Array[], workers: number, towers: number): boolean {
    const d = raw as DataInit | undefined;
    if (!d || typeof d !== 'object' || !d.train?.file || !d.test?.file) return false;
    if (!existsSync(d.train.file) || !existsSync(d.test.file)) {
      this.opts.log.info({ train: d.train.file }, 'the store is not here: the coordinator sends the images');
      return false;
    }
    if (tensors.length < 2) throw new ProtocolError('init: data needs the mean and scale tensors');
    const spec: TransformSpec = { ...d.spec, mean: tensors[0]!, scale: tensors[1]! };
    const store = (s: DataInit['train']): Store => ({ ...s, labels: new Int32Array(0) });
    this.loader = new Loader(store(d.train), store(d.test), spec, Math.max(1, Math.floor(workers / towers)));
    return true;
  }

  private onPrepare(h: Header<'prepare'>): void {
    this.need();
    if (!this.loader) return; // wire-only towers, and towers that are sent the images, draw none
    if (!h.indices.every((i) => Number.isInteger(i) && i >= 0)) throw new ProtocolError('prepare: indices must be whole numbers');
    this.batches.set(h.batch, this.loader.batch(h.split, Uint32Array.from(h.indices), h.mode, h.keyBase));
  }

  private onForward(h: Header<'forward'>, tensors: Float32Array[]): void {
    const passes = this.need().passes;
    if (tensors.length > 0 || h.batch === undefined || !this.loader) {
      passes.forward(h, tensors.length > 0 ? { data: tensors[0]!, shape: [h.size, ...this.model!.plan.net.inputShape] } : undefined);
      return;
    }
    const batch = this.batches.get(h.batch);
    if (!batch) throw new ProtocolError(`forward names batch ${h.batch}, which was not prepared`);
    const size = this.imageSize;
    const id = h.batch;
    const image = batch.then((all) => {
      if (all.length < (h.sampleOffset + h.size) * size)
        throw new ProtocolError(`batch ${id} holds ${all.length / size} images, forward asks for ${h.sampleOffset}–${h.sampleOffset + h.size}`);
      if ((h.sampleOffset + h.size) * size === all.length) this.batches.delete(id);
      return { data: all.subarray(h.sampleOffset * size, (h.sampleOffset + h.size) * size), shape: [h.size, ...this.model!.plan.net.inputShape] };
    });
    passes.forward(h, image);
  }

  private onBackward(h: Header<'backward'>, tensors: Float32Array[]): void {
    if (tensors.length !== 1) throw new ProtocolError(`backward carries ${tensors.length} tensors, expected 1`);
    this.need().passes.backward(h, { data: tensors[0]!, shape: h.tensors[0]!.shape });
  }

  private async onUpdate(h: Header<'update'>): Promise<void> {
    const { model, passes } = this.need();
    const t0 = performance.now();
    model.update(h.lr, h.step);
    const times = model.takeTimes();
    const ms = passes.takeBusy() + performance.now() - t0;
    await this.send('updated', {
      step: h.step,
      ms,
      peerSent: this.peers.bytes.sent,
      peerReceived: this.peers.bytes.received,
      ...(times.backward.length ? { backwardLayers: times.backward } : {}),
    });
  }

  private async onGetWeights(h: Header<'get_weights'>): Promise<void> {
    // `state`: with the optimizer's state, whichever slots it has (velocity, or Adam's m and v).
    const { params, tensors } = this.need().model.weights(h.state === true);
    await this.send('weights', { params }, tensors);
  }

  private async onLoad(h: Header<'load'>, tensors: Float32Array[]): Promise<void> {
    if (!Array.isArray(h.params)) throw new ProtocolError('load: params must be a list');
    this.need().model.load(h.params, tensors);
    await this.send('loaded', { params: tensors.length });
  }

  private need(): { model: TowerModel | WireModel; passes: Passes } {
    if (!this.model || !this.passes) throw new ProtocolError('no init received yet');
    return { model: this.model, passes: this.passes };
  }

  /** Queue a message to the coordinator. */
  private send<K extends Kind>(kind: K, body: Omit<Header<K>, 'v' | 'kind' | 'tensors'>, tensors: TensorOut[] = []): Promise<void> {
    const frames = encode(kind, body, tensors);
    this.sending = this.sending.then(() => this.socket.send(frames));
    return this.sending;
  }
}
