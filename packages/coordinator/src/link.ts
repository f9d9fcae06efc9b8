/**
 * The coordinator's socket: one Router bound where the towers connect. Replies from each tower arrive in
 * the order it was asked, so waiting is a FIFO per tower. Anything malformed is logged and dropped; a
 * tower's `error` or a link failure (a tower died) rejects every waiter so the run stops at once.
 */
import { AlexnetError, decode, encode, type Header, type Kind, type Message, TOWER_TO_COORDINATOR } from '@alexnet/core';
import type { Logger } from 'pino';
import { Router } from 'zeromq';

export interface Outgoing {
  data: Float32Array;
  shape: number[];
}

interface Waiter {
  kind: Kind;
  resolve: (m: Message) => void;
  reject: (e: Error) => void;
}

/** A tower died, failed, or broke protocol: the run cannot go on. */
export class TowerError extends AlexnetError {
  constructor(message: string) {
    super('E_TOWER', message);
  }
}

/** How long a failed send waits for the tower's exit notice before it is reported itself. */
const SEND_FAILURE_GRACE_MS = 1000;

export class TowerLink {
  private readonly socket = new Router({ mandatory: true, linger: 0, sendHighWaterMark: 0, receiveHighWaterMark: 0 });
  private readonly waiters: Waiter[][];
  private readonly inbox: Message[][];
  private sending: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  /** Payload bytes (header and tensor frames) sent to and received from the towers. */
  readonly bytes = { sent: 0, received: 0 };
  /** Per tower: when its last heartbeat arrived (performance.now(); 0 before the first). */
  readonly beats: number[];

  constructor(
    readonly endpoint: string,
    readonly towers: number,
    private readonly log: Logger,
  ) {
    this.beats = new Array<number>(towers).fill(0);
    this.waiters = Array.from({ length: towers }, () => []);
    this.inbox = Array.from({ length: towers }, () => []);
  }

  async bind(): Promise<void> {
    await this.socket.bind(this.endpoint);
    void this.receive(); // runs until the socket closes; failures reach waiters through fail()
  }

  /** The next message from tower t, which must be of `kind`. */
  next<K extends Kind>(t: number, kind: K): Promise<Message<K>> {
    if (this.failure) return Promise.reject(this.failure);
    const queued = this.inbox[t]!.shift();
    if (queued) return this.check(queued, kind, t);
    return new Promise<Message>((resolve, reject) => this.waiters[t]!.push({ kind, resolve, reject })).then((m) => this.check(m, kind, t));
  }

  /** Wait for one message of `kind` from every tower. */
  all<K extends Kind>(kind: K): Promise<Message<K>[]> {
    return Promise.all(Array.from({ length: this.towers }, (_, t) => this.next(t, kind)));
  }

  send<K extends Kind>(t: number, kind: K, body: Omit<Header<K>, 'v' | 'kind' | 'tensors'>, tensors: Outgoing[] = []): Promise<void> {
    const payload = encode(kind, body, tensors);
    for (const f of payload) this.bytes.sent += f.byteLength;
    const frames = [Buffer.from(`tower-${t}`), ...payload];
    // zeromq.js allows one pending send per socket: chain them.
    // A failed send (the tower is gone) fails the link, which rejects whoever waits for a reply. Usually the
    // tower's process has died: give its exit notice a moment to arrive first, since it says how it died
    // (the first failure wins).
    this.sending = this.sending
      .then(() => (this.failure ? undefined : this.socket.send(frames)))
      .catch((e: Error) => {
        const err = new TowerError(`send to tower ${t} failed: ${e.message}`);
        setTimeout(() => this.fail(err), SEND_FAILURE_GRACE_MS);
      });
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
  }

  private check<K extends Kind>(m: Message, kind: K, t: number): Promise<Message<K>> {
    if (m.header.kind === 'error') {
      const e = m.header as Header<'error'>;
      const err = new TowerError(`tower ${t} failed: ${e.message} (${e.code})`);
      this.fail(err);
      return Promise.reject(err);
    }
    if (m.header.kind !== kind) {
      const err = new TowerError(`tower ${t} sent ${m.header.kind} where ${kind} was expected`);
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
        for (const f of frames) this.bytes.received += f.byteLength;
        try {
          msg = decode(frames, TOWER_TO_COORDINATOR);
        } catch (e) {
          this.log.warn({ tower: t, reason: (e as Error).message }, 'rejected message');
          continue;
        }
        const w = this.waiters[t]!.shift();
        if (w) w.resolve(msg);
        else this.inbox[t]!.push(msg);
      }
    } catch (e) {
      if (!this.socket.closed) this.fail(e as Error);
    }
  }
}
