/**
 * A tower's links to the other towers, so an activation crosses the wire once, holder to reader. Either
 * plain stream sockets with tensor bodies in shared memory, all in the tower's main thread (`shm`, for
 * towers on one host: streams.ts, shared_file.ts); the same sockets read by a thread of their own into
 * reused buffers (`stream`, for towers anywhere: peer_thread.ts); or ZeroMQ sockets (`zmq`): a Router
 * bound where the peers reach it (it receives) and
 * one Dealer per peer (it sends). With CURVE keys the links are ZeroMQ: the Router is a CURVE server with
 * this tower's key pair, admitting only the keys of towers (`tower-*.key` in the keys directory), and
 * each Dealer checks its peer's key. Either way, anything malformed, or from another session, is logged
 * and dropped.
 */
import { readdirSync } from 'node:fs';
import { decode, encode, type Header, type KeyPair, type Message, readPublicKey, serveZap, TOWER_TO_TOWER, ZAP_ENDPOINT } from '@alexnet/core';
import type { Logger } from 'pino';
import { Dealer, Reply, Router } from 'zeromq';
import { BufferPool } from './buffer_pool.js';
import { ThreadedTransport } from './peer_thread.js';
import { type Delivery, type PeerTransport, StreamTransport } from './streams.js';
import type { TensorOut } from './tensors.js';

/**
 * `shm` moved the wire-only exchange fastest, `stream` ~2.5× faster than ZeroMQ; wasm towers trained
 * fastest on ZeroMQ (docs/benchmarks.md).
 */
export type PeerTransportName = 'shm' | 'stream' | 'zmq';

export interface PeerKeys {
  pair: KeyPair;
  dir: string;
}

const ZAP_DOMAIN = 'alexnet-peers';

/** Where a message belongs: pass, direction, the layer whose exchange it is part of, micro-batch. */
export const exchangeKey = (pass: number, dir: 'forward' | 'backward', layer: number, part: number): string => `${pass}:${dir}:${layer}:${part}`;

export class Peers {
  private readonly transport: PeerTransport;
  private readonly inbox = new Map<string, Message<'exchange'>[]>();
  private session = -1;
  private towers = 0;
  /** Payload bytes sent to and received from peers. */
  readonly bytes = { sent: 0, received: 0 };
  /** Called whenever a message arrives (the tower then runs whatever became ready). */
  onArrival: () => void = () => {};

  constructor(
    private readonly index: number,
    private readonly log: Logger,
    kind: PeerTransportName,
    keys?: PeerKeys,
  ) {
    const deliver: Delivery = (frames, from) => this.accept(frames, from);
    if (keys && kind !== 'zmq') throw new Error(`${kind} peer links carry no encryption: with keys the towers exchange over ZeroMQ CURVE (--peer-transport zmq)`);
    const rejected = (from: string, reason: string): void => this.log.warn({ peer: from, reason }, 'rejected peer message');
    this.transport =
      kind === 'zmq'
        ? new ZmqTransport(index, log, deliver, keys)
        : kind === 'shm'
          ? new StreamTransport(index, log, new BufferPool(undefined, false), deliver, rejected)
          : new ThreadedTransport(index, log, deliver, rejected);
  }

  /** A received transfer's values are no longer read: its memory may be reused. */
  release(a: ArrayBufferView): void {
    this.transport.release(a);
  }

  /** Bind where peers connect; returns the endpoint bound (a port of 0 is resolved). */
  bind(endpoint: string): Promise<string> {
    return this.transport.bind(endpoint);
  }

  /** A new session: connect to every other tower's endpoint (dropping earlier connections and messages). */
  connect(session: number, endpoints: readonly string[]): void {
    this.session = session;
    this.towers = endpoints.length;
    this.inbox.clear();
    this.transport.connect(session, endpoints);
  }

  /** Send tower `to` one transfer (its values must not change until the transport has sent them). */
  send(to: number, body: Omit<Header<'exchange'>, 'v' | 'kind' | 'tensors' | 'session' | 'from'>, tensor: TensorOut): void {
    const frames = encode('exchange', { ...body, session: this.session, from: this.index }, [tensor]);
    for (const f of frames) this.bytes.sent += f.byteLength;
    this.transport.send(to, frames, () => {});
  }

  /** The messages received for `key` so far (not removed). */
  peek(key: string): readonly Message<'exchange'>[] {
    return this.inbox.get(key) ?? [];
  }

  /** Remove and return the messages for `key`. */
  take(key: string): Message<'exchange'>[] {
    const got = this.inbox.get(key) ?? [];
    this.inbox.delete(key);
    return got;
  }

  /** Drop everything kept for passes before `pass` (a pass that stopped half way, say). */
  forget(pass: number): void {
    for (const key of this.inbox.keys()) if (Number(key.split(':')[0]) < pass) this.inbox.delete(key);
  }

  close(): Promise<void> {
    return this.transport.close();
  }

  private accept(frames: Buffer[], from: string): void {
    let msg: Message<'exchange'>;
    for (const f of frames) this.bytes.received += f.byteLength;
    const drop = (): void => frames.forEach((f) => this.transport.release(f));
    try {
      msg = decode(frames, TOWER_TO_TOWER) as Message<'exchange'>;
    } catch (e) {
      drop();
      this.log.warn({ peer: from.slice(0, 40), reason: (e as Error).message }, 'rejected peer message');
      return;
    }
    const h = msg.header;
    if (h.session !== this.session) {
      drop();
      this.log.debug({ from: h.from, session: h.session }, 'dropped a peer message of another session');
      return;
    }
    if (msg.tensors.length !== 1 || !Number.isInteger(h.from) || h.from === this.index || h.from < 0 || h.from >= this.towers) {
      drop();
      this.log.warn({ from: h.from, tensors: msg.tensors.length }, 'rejected peer message: not one tensor from another tower');
      return;
    }
    const key = exchangeKey(h.pass, h.dir, h.layer, h.part);
    const list = this.inbox.get(key) ?? [];
    list.push(msg);
    this.inbox.set(key, list);
    this.onArrival();
  }
}

/**
 * The ZeroMQ links: a Router bound at the peer endpoint receives, one Dealer per peer sends, with CURVE
 * when the towers have keys. zeromq.js allows one pending send per socket, so sends to a peer chain.
 */
class ZmqTransport implements PeerTransport {
  private readonly router: Router;
  private zap: Reply | undefined;
  private dealers: Dealer[] = [];
  private sending: Promise<void>[] = [];

  constructor(
    private readonly index: number,
    private readonly log: Logger,
    private readonly deliver: Delivery,
    private readonly keys?: PeerKeys,
  ) {
    this.router = new Router({
      linger: 0,
      receiveHighWaterMark: 0,
      handover: true,
      ...(keys ? { curveServer: true, curveSecretKey: keys.pair.secretKey, zapDomain: ZAP_DOMAIN } : {}),
    });
  }

  release(): void {}

  async bind(endpoint: string): Promise<string> {
    if (this.keys) {
      this.zap = new Reply({ linger: 0 });
      await this.zap.bind(ZAP_ENDPOINT);
      void this.authenticate(this.zap, this.keys.dir);
    }
    await this.router.bind(endpoint);
    void this.receive();
    return this.router.lastEndpoint ?? endpoint;
  }

  connect(session: number, endpoints: readonly string[]): void {
    for (const d of this.dealers) d.close();
    this.dealers = endpoints.map((e, s) => {
      // A routing id per session: a peer's new connection must not collide with its last one's, which a
      // Router may not have dropped yet (it would refuse the newcomer, and its transfers would be lost).
      const keys = this.keys;
      const d = new Dealer({
        routingId: `peer-${this.index}-${session}`,
        linger: 0,
        sendHighWaterMark: 0,
        ...(keys ? { curveServerKey: readPublicKey(keys.dir, `tower-${s}`), curvePublicKey: keys.pair.publicKey, curveSecretKey: keys.pair.secretKey } : {}),
      });
      if (s !== this.index) d.connect(e);
      return d;
    });
    this.sending = this.dealers.map(() => Promise.resolve());
  }

  /** `sent` is never called: zeromq.js may still read a sent buffer after its send resolves, so nothing here is reused. */
  send(to: number, frames: Buffer[]): void {
    const d = this.dealers[to]!;
    this.sending[to] = this.sending[to]!.then(() => d.send(frames)).catch((e: Error) => this.log.warn({ peer: to, reason: e.message }, 'send to peer failed'));
  }

  async close(): Promise<void> {
    await Promise.all(this.sending);
    for (const d of this.dealers) d.close();
    this.router.close();
    this.zap?.close();
  }

  private async receive(): Promise<void> {
    try {
      for await (const [id, ...frames] of this.router) this.deliver(frames, id?.toString() ?? '');
    } catch (e) {
      if (!this.router.closed) this.log.error({ err: e }, 'peer socket failed');
    }
  }

  /** Admit a CURVE peer only if its key is a tower's (`tower-*.key` in the keys directory). */
  private authenticate(zap: Reply, dir: string): Promise<void> {
    const towers = new Map<string, string>();
    for (const f of readdirSync(dir)) {
      const m = /^(tower-\d+)\.key$/.exec(f);
      if (m) towers.set(readPublicKey(dir, m[1]!), m[1]!);
    }
    return serveZap(zap, (key) => towers.get(key), {
      admitted: () => {},
      refused: (p) => this.log.warn({ peer: p.address, key: p.key }, `refused a peer connection from ${p.address}: its key is not one of the tower keys in ${dir}`),
      stopped: (e) => this.log.error({ err: e }, 'the peer key check stopped: no peer can connect'),
    });
  }
}
