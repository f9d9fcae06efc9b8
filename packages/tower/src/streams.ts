/**
 * Peer traffic over plain stream sockets (a Unix socket for `ipc://`, TCP for `tcp://`), used when the
 * towers run without keys. Why not ZeroMQ: zeromq.js hands every received message to JavaScript as a
 * fresh external buffer, and at megabytes per transfer V8 then runs a mark-compact every few tens of
 * milliseconds to free them. Here the receiver reads straight into reused buffers (`BufferPool`).
 *
 * Each connection carries one direction. The receiver connects to the sender's server and says who it
 * is (a hello with its session and index); the sender writes that receiver's transfers on the accepted
 * socket. A message is [u32 frame count][u32 length of each frame][the frames], little-endian; the first
 * frame is the header, which core's strict codec decodes. A count or length out of bounds leaves the
 * stream unreadable: the receiver logs it, drops the connection and connects again.
 */
import { rmSync } from 'node:fs';
import net from 'node:net';
import type { Logger } from 'pino';

/** Frames a message may have (a header and its tensors) and the largest header accepted. */
const MAX_FRAMES = 8;
const MAX_HEADER = 1 << 20;
/** A whole message at most (the paper net's largest transfer at batch 128 is 5.5 MB): more is refused, not allocated. */
const MAX_MESSAGE = 1 << 30;
const HELLO = Buffer.from('AXP1');
const HELLO_BYTES = 12;
/** Reads smaller than this go through one scratch buffer; larger tensor bodies are read in place. */
const SCRATCH = 64 << 10;
const RECONNECT_MS = 100;

/**
 * Buffers by size, reused across steps: a step's transfers have the same sizes every time, so after the
 * first step nothing is allocated. Shared memory, so that the peer I/O thread (peer_thread.ts) reads into
 * them and the tower's main thread uses them in place; each has an id, since a SharedArrayBuffer posted
 * to another thread arrives there as another object. Only buffers this pool made are taken back.
 */
export class BufferPool {
  private readonly free = new Map<number, number[]>();
  private readonly all: SharedArrayBuffer[] = [];
  private readonly ids = new WeakMap<ArrayBufferLike, number>();
  private readonly idle = new Set<number>();
  private held = 0;

  constructor(private readonly maxBytes = 1 << 30) {}

  acquire(bytes: number): Buffer {
    const id = this.free.get(bytes)?.pop();
    if (id !== undefined) {
      this.idle.delete(id);
      this.held -= bytes;
      return Buffer.from(this.all[id]!);
    }
    const sab = new SharedArrayBuffer(bytes);
    this.ids.set(sab, this.all.length);
    this.all.push(sab);
    return Buffer.from(sab);
  }

  /** The id of the buffer behind `a`, when `a` is all of one of this pool's buffers. */
  idOf(a: ArrayBufferView): number | undefined {
    const id = this.ids.get(a.buffer);
    return id !== undefined && whole(a) ? id : undefined;
  }

  /** Give back the memory behind `a` if it is all of one of this pool's buffers (else nothing happens). */
  release(a: ArrayBufferView): void {
    const id = this.idOf(a);
    if (id !== undefined) this.releaseId(id);
  }

  releaseId(id: number): void {
    const sab = this.all[id];
    if (!sab || this.idle.has(id) || this.held + sab.byteLength > this.maxBytes) return;
    const list = this.free.get(sab.byteLength) ?? [];
    list.push(id);
    this.free.set(sab.byteLength, list);
    this.idle.add(id);
    this.held += sab.byteLength;
  }
}

/** Whether `a` views all of its memory (only such views go back to a pool). */
export const whole = (a: ArrayBufferView): boolean => a.byteOffset === 0 && a.byteLength === a.buffer.byteLength;

export type Endpoint = { path: string } | { host: string; port: number };

/** `ipc:///a/path` or `tcp://host:port` as net's address (`*` is every IPv4 interface, as in ZeroMQ); anything else is refused. */
export function parseEndpoint(e: string): Endpoint {
  if (e.startsWith('ipc://')) return { path: e.slice('ipc://'.length) };
  const m = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d+)$/.exec(e);
  if (m && Number(m[2]) <= 65535) return { host: m[1] === '*' ? '0.0.0.0' : m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  throw new Error(`${e} is not an ipc:// or tcp://host:port endpoint`);
}

/** What the peers layer hands a transport and gets from it. */
export interface PeerTransport {
  /** A received body is no longer read: its buffer may be reused. */
  release(a: ArrayBufferView): void;
  bind(endpoint: string): Promise<string>;
  /** A new session: reach every other tower at its endpoint; connections of earlier sessions are dropped. */
  connect(session: number, endpoints: readonly string[]): void;
  /** Send `frames` to tower `to`; `sent` is called once the transport no longer reads them. */
  send(to: number, frames: Buffer[], sent: () => void): void;
  close(): Promise<void>;
}

export interface Delivery {
  /** A whole message: frames as received, and a name for its sender to log. */
  (frames: Buffer[], from: string): void;
}

/** One receiving connection's reader: frames are filled in place, large tensor bodies without a copy. */
class Reader {
  private readonly scratch = Buffer.allocUnsafe(SCRATCH);
  private prefix = Buffer.alloc(4 + 4 * MAX_FRAMES);
  private prefixHave = 0;
  private prefixNeed = 4;
  private lengths: number[] = [];
  private frames: Buffer[] = [];
  private frame: Buffer | undefined;
  private at = 0;

  constructor(
    private readonly pool: BufferPool,
    private readonly deliver: (frames: Buffer[]) => void,
    private readonly fail: (why: string) => void,
  ) {}

  /** Where the next read goes: the rest of a large frame body, else the scratch buffer. */
  next = (): Buffer => (this.frame && this.frame.length - this.at >= SCRATCH ? this.frame.subarray(this.at) : this.scratch);

  /** `n` bytes were read into `buf` (the buffer `next` returned). */
  read = (n: number, buf: Buffer): boolean => {
    if (buf !== this.scratch) {
      this.at += n;
      if (this.at === this.frame!.length) this.frameDone();
      return true;
    }
    let i = 0;
    while (i < n) {
      if (this.frame) {
        const take = Math.min(this.frame.length - this.at, n - i);
        buf.copy(this.frame, this.at, i, i + take);
        this.at += take;
        i += take;
        if (this.at === this.frame.length) this.frameDone();
        continue;
      }
      const take = Math.min(this.prefixNeed - this.prefixHave, n - i);
      buf.copy(this.prefix, this.prefixHave, i, i + take);
      this.prefixHave += take;
      i += take;
      if (this.prefixHave < this.prefixNeed) continue;
      if (!this.prefixDone()) return false;
    }
    return true;
  };

  /** The count, then the lengths, are in: check them and start the first frame. */
  private prefixDone(): boolean {
    if (this.prefixNeed === 4) {
      const count = this.prefix.readUInt32LE(0);
      if (count < 1 || count > MAX_FRAMES) return this.reject(`a message of ${count} frames (1 to ${MAX_FRAMES} allowed)`);
      this.prefixNeed = 4 + 4 * count;
      return true;
    }
    this.lengths = [];
    for (let o = 4; o < this.prefixNeed; o += 4) this.lengths.push(this.prefix.readUInt32LE(o));
    if (this.lengths[0]! < 1 || this.lengths[0]! > MAX_HEADER) return this.reject(`a header of ${this.lengths[0]} bytes (1 to ${MAX_HEADER} allowed)`);
    if (this.lengths.reduce((x, y) => x + y, 0) > MAX_MESSAGE) return this.reject(`a message over ${MAX_MESSAGE / 2 ** 30} GiB`);
    this.frames = [];
    this.startFrame();
    return true;
  }

  private startFrame(): void {
    const i = this.frames.length;
    const len = this.lengths[i]!;
    // the header is small and decoded at once; tensor bodies come from the pool and go back after use
    this.frame = i === 0 ? Buffer.allocUnsafe(len) : this.pool.acquire(len);
    this.at = 0;
    if (len === 0) this.frameDone();
  }

  private frameDone(): void {
    this.frames.push(this.frame!);
    this.frame = undefined;
    if (this.frames.length < this.lengths.length) return this.startFrame();
    const frames = this.frames;
    this.frames = [];
    this.prefixHave = 0;
    this.prefixNeed = 4;
    this.deliver(frames);
  }

  private reject(why: string): false {
    this.fail(why);
    return false;
  }
}

export class StreamTransport implements PeerTransport {
  private server: net.Server | undefined;
  private session = -1;
  /** Accepted connections by session and receiver index (a receiver may say hello before our own init). */
  private readonly receivers = new Map<string, net.Socket>();
  private readonly waiting = new Map<number, { frames: Buffer[]; sent: () => void }[]>();
  private readers: net.Socket[] = [];
  private closed = false;

  constructor(
    private readonly index: number,
    private readonly log: Logger,
    readonly pool: BufferPool,
    private readonly deliver: Delivery,
    /** Called with a line for the log when a peer sent something this transport refuses. */
    private readonly rejected: (from: string, reason: string) => void,
  ) {}

  release(a: ArrayBufferView): void {
    this.pool.release(a);
  }

  async bind(endpoint: string): Promise<string> {
    const at = parseEndpoint(endpoint);
    if ('path' in at) rmSync(at.path, { force: true }); // a socket file left by an earlier tower
    const server = net.createServer((s) => this.accept(s));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen('path' in at ? { path: at.path } : { host: at.host, port: at.port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (e) => this.log.error({ err: e }, 'peer socket failed'));
    if ('path' in at) return endpoint;
    const a = server.address() as net.AddressInfo;
    return `tcp://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  connect(session: number, endpoints: readonly string[]): void {
    this.session = session;
    for (const s of this.readers) s.destroy();
    this.readers = [];
    for (const [key, s] of this.receivers) if (Number(key.split(':')[0]) < session) (s.destroy(), this.receivers.delete(key));
    this.waiting.clear();
    endpoints.forEach((e, t) => {
      if (t !== this.index) this.reach(session, t, e);
    });
  }

  send(to: number, frames: Buffer[], sent: () => void): void {
    const s = this.receivers.get(`${this.session}:${to}`);
    if (!s) {
      const list = this.waiting.get(to) ?? [];
      list.push({ frames, sent });
      this.waiting.set(to, list);
      return;
    }
    write(s, frames, sent);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.readers) s.destroy();
    for (const s of this.receivers.values()) s.end();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** A receiver connected: read its hello, then only write to it. */
  private accept(s: net.Socket): void {
    s.setNoDelay?.(true);
    const who = s.remoteAddress ? `${s.remoteAddress}:${s.remotePort}` : 'a local peer';
    let got = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      got = Buffer.concat([got, d]);
      if (got.length < HELLO_BYTES) return;
      s.off('data', onData);
      const session = got.readUInt32LE(4);
      const from = got.readUInt32LE(8);
      if (!got.subarray(0, 4).equals(HELLO) || got.length !== HELLO_BYTES || from === this.index || session < this.session) {
        this.rejected(who, got.length !== HELLO_BYTES ? 'bytes after its hello' : `a bad hello (session ${session}, tower ${from})`);
        s.destroy();
        return;
      }
      const key = `${session}:${from}`;
      this.receivers.get(key)?.destroy();
      this.receivers.set(key, s);
      // a receiver only says hello: anything more is a peer we do not understand
      s.on('data', () => {
        this.rejected(who, 'bytes on a sending connection');
        s.destroy();
      });
      s.on('close', () => {
        if (this.receivers.get(key) === s) this.receivers.delete(key);
      });
      if (session === this.session) this.flush(from, s);
    };
    s.on('data', onData);
    s.on('error', (e) => this.log.debug({ peer: who, reason: e.message }, 'peer connection failed'));
  }

  private flush(to: number, s: net.Socket): void {
    for (const m of this.waiting.get(to) ?? []) write(s, m.frames, m.sent);
    this.waiting.delete(to);
  }

  /** Connect to tower t to receive from it, again whenever the connection drops, while the session lasts. */
  private reach(session: number, t: number, endpoint: string): void {
    if (this.closed || session !== this.session) return;
    const at = parseEndpoint(endpoint);
    const name = `tower ${t} (${endpoint})`;
    let broken = false;
    const reader = new Reader(this.pool, (frames) => this.deliver(frames, name), (why) => {
      broken = true;
      this.rejected(name, why);
      socket.destroy();
    });
    const socket = net.connect({ ...('path' in at ? { path: at.path } : { host: at.host, port: at.port }), onread: { buffer: reader.next, callback: (n: number, buf: Uint8Array) => reader.read(n, buf as Buffer) } });
    this.readers.push(socket);
    socket.setNoDelay?.(true);
    socket.on('connect', () => {
      const hello = Buffer.alloc(HELLO_BYTES);
      HELLO.copy(hello, 0);
      hello.writeUInt32LE(session, 4);
      hello.writeUInt32LE(this.index, 8);
      socket.write(hello);
    });
    socket.on('error', (e) => this.log.debug({ peer: name, reason: e.message }, 'peer connection failed'));
    socket.on('close', () => {
      this.readers = this.readers.filter((r) => r !== socket);
      if (this.closed || session !== this.session) return;
      if (broken) this.log.warn({ peer: name }, 'reconnecting to a peer after a malformed message');
      setTimeout(() => this.reach(session, t, endpoint), RECONNECT_MS).unref();
    });
  }
}

/** One message on a stream: the prefix, then the frames, corked so they leave in as few writes as can be. */
function write(s: net.Socket, frames: Buffer[], sent: () => void): void {
  const prefix = Buffer.allocUnsafe(4 + 4 * frames.length);
  prefix.writeUInt32LE(frames.length, 0);
  frames.forEach((f, i) => prefix.writeUInt32LE(f.byteLength, 4 + 4 * i));
  s.cork();
  s.write(prefix);
  frames.forEach((f, i) => (i === frames.length - 1 ? s.write(f, () => sent()) : s.write(f)));
  s.uncork();
}
