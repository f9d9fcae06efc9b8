/**
 * The plain peer links (streams.ts) run in a thread of their own, as ZeroMQ's I/O thread would: a tower's
 * main thread spends seconds in one convolution, and a transfer read only between its tasks would crawl
 * (a Unix socket holds ~200 KB). The thread reads each tensor body into shared memory, which the main
 * thread then uses in place and hands back when its micro-batch is done; sends are copied into shared
 * memory once, and that copy is reused when the thread has written it.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { BufferPool, whole } from './buffer_pool.js';
import type { Delivery, PeerTransport } from './streams.js';

/** A frame between the threads: small ones copied, tensor bodies as shared memory (with their pool id when received). */
export type WireFrame = Uint8Array | SharedArrayBuffer | { sab: SharedArrayBuffer; id: number };

export type ToThread =
  | { op: 'bind'; endpoint: string }
  | { op: 'connect'; session: number; endpoints: string[] }
  | { op: 'send'; to: number; id: number; frames: (Uint8Array | SharedArrayBuffer)[] }
  | { op: 'release'; id: number }
  | { op: 'close' };

export type FromThread =
  | { op: 'bound'; endpoint: string }
  | { op: 'failed'; message: string }
  | { op: 'message'; from: string; frames: WireFrame[] }
  | { op: 'rejected'; from: string; reason: string }
  | { op: 'sent'; id: number }
  | { op: 'log'; level: 'debug' | 'warn' | 'error'; obj: object; msg: string }
  | { op: 'closed' };

export class ThreadedTransport implements PeerTransport {
  private readonly worker: Worker;
  /** Shared memory that sends are copied into. */
  private readonly sendPool = new BufferPool();
  /** Received bodies: shared memory of the thread's pool, by its id there. */
  private readonly received = new WeakMap<ArrayBufferLike, number>();
  private readonly sending = new Map<number, () => void>();
  private sends = 0;
  private waiter: ((m: FromThread) => void) | undefined;

  constructor(
    index: number,
    private readonly log: Logger,
    private readonly deliver: Delivery,
    private readonly rejected: (from: string, reason: string) => void,
  ) {
    this.worker = new Worker(new URL('./peer_thread_worker.js', import.meta.url), { workerData: { index } });
    this.worker.on('message', (m: FromThread) => this.receive(m));
    this.worker.on('error', (e) => log.error({ err: e }, 'peer thread failed'));
  }

  release(a: ArrayBufferView): void {
    const id = this.received.get(a.buffer);
    if (id === undefined || !whole(a)) return;
    this.received.delete(a.buffer);
    this.post({ op: 'release', id });
  }

  async bind(endpoint: string): Promise<string> {
    const reply = this.next();
    this.post({ op: 'bind', endpoint });
    const m = await reply;
    if (m.op === 'bound') return m.endpoint;
    throw new Error(m.op === 'failed' ? m.message : `peer thread answered ${m.op}`);
  }

  connect(session: number, endpoints: readonly string[]): void {
    this.post({ op: 'connect', session, endpoints: [...endpoints] });
  }

  send(to: number, frames: Buffer[], sent: () => void): void {
    const id = this.sends++;
    const copies: Buffer[] = [];
    const wire = frames.map((f, i) => {
      if (i === 0) return new Uint8Array(f); // the header: small, copied with the message
      const copy = this.sendPool.acquire(f.byteLength);
      f.copy(copy);
      copies.push(copy);
      return copy.buffer as SharedArrayBuffer;
    });
    this.sending.set(id, () => {
      for (const c of copies) this.sendPool.release(c);
      sent();
    });
    this.post({ op: 'send', to, id, frames: wire });
  }

  async close(): Promise<void> {
    const reply = this.next();
    this.post({ op: 'close' });
    await Promise.race([reply, new Promise((r) => setTimeout(r, 1000).unref())]);
    await this.worker.terminate();
  }

  private post(m: ToThread): void {
    this.worker.postMessage(m);
  }

  /** The thread's next answer to a request (bind, close). */
  private next(): Promise<FromThread> {
    return new Promise((resolve) => (this.waiter = resolve));
  }

  private receive(m: FromThread): void {
    switch (m.op) {
      case 'message': {
        const frames = m.frames.map((f) => {
          if (f instanceof Uint8Array) return Buffer.from(f.buffer, f.byteOffset, f.byteLength);
          if (f instanceof SharedArrayBuffer) return Buffer.from(f);
          this.received.set(f.sab, f.id);
          return Buffer.from(f.sab);
        });
        this.deliver(frames, m.from);
        return;
      }
      case 'sent':
        this.sending.get(m.id)?.();
        this.sending.delete(m.id);
        return;
      case 'rejected':
        this.rejected(m.from, m.reason);
        return;
      case 'log':
        this.log[m.level](m.obj, m.msg);
        return;
      default: {
        const w = this.waiter;
        this.waiter = undefined;
        w?.(m);
      }
    }
  }
}
