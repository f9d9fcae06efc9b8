/**
 * The coordinator's socket: one Router bound where the towers connect. Replies of each kind from each tower
 * arrive in the order it was asked, so waiting is a FIFO per tower and kind (a tower may end one
 * micro-batch's backward before it sends the next one's logits). Anything malformed is logged and dropped; a
 * tower's `error` or a link failure (a tower died) rejects every waiter so the run stops at once.
 *
 * With CURVE keys (towers on other hosts) the socket is a CURVE server and a ZAP handler admits only the
 * tower keys it was given; refused peers and failed handshakes are logged, at most once per peer a minute.
 */
import { AlexnetError, decode, encode, type Header, type KeyPair, type Kind, type Message, serveZap, TOWER_TO_COORDINATOR, ZAP_ENDPOINT } from '@alexnet/core';
import type { Logger } from 'pino';
import { Reply, Router } from 'zeromq';

export interface Outgoing {
  data: Float32Array;
  shape: number[];
}

interface Waiter {
  /** The kind waited for; any kind when undefined. */
  kind: Kind | undefined;
  resolve: (m: Message) => void;
  reject: (e: Error) => void;
}

/** A tower died, failed, or broke protocol: the run cannot go on. */
export class TowerError extends AlexnetError {
  constructor(message: string) {
    super('E_TOWER', message);
  }
}

/** Does `m` answer a wait for `kind`? Errors and hellos answer any wait: they stop the run. */
const matches = (m: Message, kind: Kind | undefined): boolean => kind === undefined || m.header.kind === kind || m.header.kind === 'error' || m.header.kind === 'hello';

/** How long a failed send waits for the tower's exit notice before it is reported itself. */
const SEND_FAILURE_GRACE_MS = 1000;

/** The coordinator's side of CURVE: its key pair and the tower keys it admits (Z85 public key → name). */
export interface CurveServer {
  pair: KeyPair;
  towers: ReadonlyMap<string, string>;
  /** Where the keys came from, for messages. */
  dir: string;
}

const ZAP_DOMAIN = 'alexnet';
/** The same refusal from the same peer is logged at most this often (a refused tower retries every 100 ms). */
const REFUSAL_LOG_MS = 60_000;

export class TowerLink {
  private readonly socket: Router;
  private zap: Reply | undefined;
  private readonly refusals = new Map<string, number>();
  private readonly waiters: Waiter[][];
  private readonly inbox: Message[][];
  private sending: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  /** Counts reset(): a send that failed in an earlier session does not fail this one. */
  private session = 0;
  /** Payload bytes (header and tensor frames) sent to and received from the towers, in all and per tower. */
  readonly bytes: { sent: number; received: number; perTower: { sent: number; received: number }[] };
  /** Per tower: when its last heartbeat, or any message but its hello, arrived (performance.now(); 0 before the first). */
  readonly beats: number[];

  constructor(
    readonly endpoint: string,
    readonly towers: number,
    private readonly log: Logger,
    private readonly curve?: CurveServer,
  ) {
    // handover: a tower that reconnects (restarted, or its network dropped) takes its name back
    // linger: a remote tower's last message (shutdown) still leaves when the link closes right after
    const remote = endpoint.startsWith('tcp://');
    this.socket = new Router({
      mandatory: true,
      handover: true,
      linger: remote ? 2000 : 0,
      sendHighWaterMark: 0,
      receiveHighWaterMark: 0,
      ...(curve ? { curveServer: true, curveSecretKey: curve.pair.secretKey, zapDomain: ZAP_DOMAIN } : {}),
    });
    this.beats = new Array<number>(towers).fill(0);
    this.bytes = { sent: 0, received: 0, perTower: Array.from({ length: towers }, () => ({ sent: 0, received: 0 })) };
    this.waiters = Array.from({ length: towers }, () => []);
    this.inbox = Array.from({ length: towers }, () => []);
  }

  async bind(): Promise<void> {
    if (this.curve) {
      this.zap = new Reply({ linger: 0 });
      await this.zap.bind(ZAP_ENDPOINT);
      void this.authenticate(this.zap, this.curve);
    }
    if (this.endpoint.startsWith('tcp://')) void this.watchHandshakes();
    try {
      await this.socket.bind(this.endpoint);
    } catch (e) {
      this.close();
      throw new AlexnetError('E_LISTEN', `cannot listen on ${this.endpoint}: ${(e as Error).message}`);
    }
    void this.receive(); // runs until the socket closes; failures reach waiters through fail()
  }

  /** The next message from tower t, which must be of `kind`. */
  next<K extends Kind>(t: number, kind: K): Promise<Message<K>> {
    return this.raw(t, kind).then((m) => this.check(m, kind, t));
  }

  /** Tower t's next hello: what it sends on (re)connecting or rejoining. Replies from before are dropped. */
  async hello(t: number): Promise<Message<'hello'>> {
    for (;;) {
      const m = await this.raw(t);
      if (m.header.kind === 'hello') return m as Message<'hello'>;
      this.log.debug({ tower: t, kind: m.header.kind }, 'dropped a message from before the tower (re)joined');
    }
  }

  /** Tower t's next message of `kind` (any kind when undefined); an error or a hello comes to whoever waits first. */
  private raw(t: number, kind?: Kind): Promise<Message> {
    if (this.failure) return Promise.reject(this.failure);
    const box = this.inbox[t]!;
    const i = box.findIndex((m) => matches(m, kind));
    if (i >= 0) return Promise.resolve(box.splice(i, 1)[0]!);
    return new Promise<Message>((resolve, reject) => this.waiters[t]!.push({ kind, resolve, reject }));
  }

  /** Ready for another session over the same socket (a restart with towers on other hosts): only hellos are kept. */
  reset(): void {
    this.session++;
    this.failure = undefined;
    for (const ws of this.waiters) ws.splice(0);
    for (const box of this.inbox) box.splice(0, box.length, ...box.filter((m) => m.header.kind === 'hello').slice(-1));
  }

  /** Wait for one message of `kind` from every tower. */
  all<K extends Kind>(kind: K): Promise<Message<K>[]> {
    return Promise.all(Array.from({ length: this.towers }, (_, t) => this.next(t, kind)));
  }

  send<K extends Kind>(t: number, kind: K, body: Omit<Header<K>, 'v' | 'kind' | 'tensors'>, tensors: Outgoing[] = []): Promise<void> {
    const payload = encode(kind, body, tensors);
    for (const f of payload) {
      this.bytes.sent += f.byteLength;
      this.bytes.perTower[t]!.sent += f.byteLength;
    }
    const frames = [Buffer.from(`tower-${t}`), ...payload];
    // zeromq.js allows one pending send per socket: chain them.
    // A failed send (the tower is gone) fails the link, which rejects whoever waits for a reply. Usually the
    // tower's process has died: give its exit notice a moment to arrive first, since it says how it died
    // (the first failure wins).
    const session = this.session;
    this.sending = this.sending
      .then(() => (this.failure ? undefined : this.socket.send(frames)))
      .catch((e: Error) => {
        const err = new TowerError(`send to tower ${t} failed: ${e.message}`);
        setTimeout(() => session === this.session && this.fail(err), SEND_FAILURE_GRACE_MS);
      });
    return this.sending;
  }

  /** Send even after a failure, and never fail because of it: telling towers on other hosts to rejoin. */
  notify<K extends Kind>(t: number, kind: K, body: Omit<Header<K>, 'v' | 'kind' | 'tensors'>): Promise<void> {
    const frames = [Buffer.from(`tower-${t}`), ...encode(kind, body, [])];
    this.sending = this.sending.then(() => this.socket.send(frames)).catch((e: Error) => this.log.debug({ tower: t, kind, reason: e.message }, 'not sent'));
    return this.sending;
  }

  /** Stop everything waiting: a tower died or misbehaved. */
  fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    for (const ws of this.waiters) for (const w of ws.splice(0)) w.reject(err);
  }

  close(): void {
    this.socket.close();
    this.zap?.close();
  }

  /** Admit a CURVE peer only if its key is one of the towers'. */
  private authenticate(zap: Reply, curve: CurveServer): Promise<void> {
    return serveZap(zap, (key) => curve.towers.get(key), {
      admitted: (p, tower) => this.log.debug({ peer: p.address, tower }, 'tower key accepted'),
      refused: (p) =>
        this.once(`${p.address}/${p.key}`, () =>
          this.log.warn({ peer: p.address, key: p.key }, `refused a connection from ${p.address}: its key ${p.key} is not one of the tower keys in ${curve.dir}`),
        ),
      stopped: (e) => this.log.error({ err: e }, 'the key check stopped: no tower can connect'),
    });
  }

  /** Log handshakes that fail for another reason than a refused key (no keys, or the wrong coordinator key). */
  private async watchHandshakes(): Promise<void> {
    const why: Record<string, string> = {
      ERR_ZMTP_MECHANISM_MISMATCH: this.curve ? 'it has no CURVE keys (give it --keys)' : 'it uses CURVE keys and this coordinator has none (give it --keys)',
      ERR_ZMTP_CRYPTOGRAPHIC: "its coordinator.key is not this coordinator's",
    };
    for await (const ev of this.socket.events) {
      if (ev.type !== 'handshake:error:protocol') continue;
      const reason = why[ev.error.code] ?? ev.error.code;
      this.once(`${ev.address}/${ev.error.code}`, () => this.log.warn({ peer: ev.address, code: ev.error.code }, `a peer's handshake at ${ev.address} failed: ${reason}`));
    }
  }

  private once(key: string, log: () => void): void {
    const now = performance.now();
    if ((this.refusals.get(key) ?? -Infinity) > now - REFUSAL_LOG_MS) return;
    this.refusals.set(key, now);
    log();
  }

  private check<K extends Kind>(m: Message, kind: K, t: number): Promise<Message<K>> {
    const e = m.header;
    if (e.kind === 'error') {
      const err = new TowerError(`tower ${t} failed: ${e.message} (${e.code})`);
      this.fail(err);
      return Promise.reject(err);
    }
    if (m.header.kind !== kind) {
      const what =
        m.header.kind === 'hello' ? 'reconnected (its process restarted, or the network dropped): its state is gone' : `sent ${m.header.kind} where ${kind} was expected`;
      const err = new TowerError(`tower ${t} ${what}`);
      this.fail(err);
      return Promise.reject(err);
    }
    return Promise.resolve(m as Message<K>);
  }

  private async receive(): Promise<void> {
    try {
      for await (const [id, ...frames] of this.socket) {
        const who = id!.toString();
        const beat = /^tower-(\d+)-hb$/.exec(who);
        if (beat && Number(beat[1]) < this.towers) {
          this.beats[Number(beat[1])] = performance.now();
          continue;
        }
        const t = /^tower-(\d+)$/.exec(who) ? Number(who.slice(6)) : -1;
        if (t < 0 || t >= this.towers) {
          this.log.warn({ peer: who.slice(0, 40) }, 'rejected message from unknown peer');
          continue;
        }
        let msg: Message;
        for (const f of frames) {
          this.bytes.received += f.byteLength;
          this.bytes.perTower[t]!.received += f.byteLength;
        }
        try {
          msg = decode(frames, TOWER_TO_COORDINATOR);
        } catch (e) {
          this.log.warn({ tower: t, reason: (e as Error).message }, 'rejected message');
          continue;
        }
        // After its hello (init may still take a while) a message is a sign of life too: a tower that has
        // answered init has started, so the startup grace ends even if no heartbeat has got through yet.
        if (msg.header.kind !== 'hello') this.beats[t] = performance.now();
        const ws = this.waiters[t]!;
        const i = ws.findIndex((w) => matches(msg, w.kind));
        if (i >= 0) ws.splice(i, 1)[0]!.resolve(msg);
        else this.inbox[t]!.push(msg);
      }
    } catch (e) {
      if (!this.socket.closed) this.fail(e as Error);
    }
  }
}
