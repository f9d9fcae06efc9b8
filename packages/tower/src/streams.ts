/**
 * Peer traffic over plain stream sockets (a Unix socket for `ipc://`, TCP for `tcp://`), used when the
 * towers run without keys. Why not ZeroMQ: zeromq.js hands every received message to JavaScript as a
 * fresh external buffer, and at megabytes per transfer V8 then runs a mark-compact every few tens of
 * milliseconds to free them. Here the receiver reads straight into reused buffers (`BufferPool`).
 *
 * Each connection carries one direction. The receiver connects to the sender's server and says who it
 * is (a hello with its session, index and whether it reads shared files); the sender writes that
 * receiver's transfers on the accepted socket. A message is [u32 frame count][u32 length of each
 * frame][the frames], little-endian; the first frame is the header, which core's strict codec decodes. A
 * count or length out of bounds leaves the stream unreadable: the receiver logs it, drops the connection
 * and connects again.
 *
 * On one host, tensor bodies travel through a shared-memory file instead (shared_file.ts). The sender
 * announces its file in a message of frame count 0 ([0][u32 length][path]); the receiver answers on the
 * same socket (OPENED or REFUSED, 4 bytes). A body in the file has bit 31 set in its length, and the
 * stream carries its u32 offset; the receiver answers each with that offset once it has read the body.
 */
import { rmSync } from 'node:fs';
import net from 'node:net';
import type { Logger } from 'pino';
import { OPENED, REFUSED, SHARED_MIN, SharedIn, SharedOut, sharedMemory } from './shared_file.js';

/** Frames a message may have (a header and its tensors) and the largest header accepted. */
const MAX_FRAMES = 8;
const MAX_HEADER = 1 << 20;
/** A whole message at most (the paper net's largest transfer at batch 128 is 5.5 MB): more is refused, not allocated. */
const MAX_MESSAGE = 1 << 30;
const HELLO = Buffer.from('AXP2');
const HELLO_BYTES = 16;
/** The hello's flag: this receiver reads bodies from a shared file. */
const READS_SHARED = 1;
/** A length with this bit set: the body is in the shared file, and the stream carries its offset. */
const IN_FILE = 0x80000000;
const MAX_PATH = 255;
/** Reads smaller than this go through one scratch buffer; larger tensor bodies are read in place. */
const SCRATCH = 64 << 10;
const RECONNECT_MS = 100;

/**
 * Buffers by size, reused across steps: a step's transfers have the same sizes every time, so after the
 * first step nothing is allocated. Shared memory for the peer I/O thread (peer_thread.ts), which reads
 * into them while the tower's main thread uses them in place; each has an id, since a SharedArrayBuffer
 * posted to another thread arrives there as another object. Plain memory for links read on the main
 * thread (`shared` false). Only buffers this pool made are taken back.
 */
export class BufferPool {
  private readonly free = new Map<number, number[]>();
  private readonly all: ArrayBufferLike[] = [];
  private readonly ids = new WeakMap<ArrayBufferLike, number>();
  private readonly idle = new Set<number>();
  private held = 0;

  constructor(
    private readonly maxBytes = 1 << 30,
    private readonly shared = true,
  ) {}

  acquire(bytes: number): Buffer {
    const id = this.free.get(bytes)?.pop();
    if (id !== undefined) {
      this.idle.delete(id);
      this.held -= bytes;
      return Buffer.from(this.all[id]!);
    }
    const sab = this.shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
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
  /** Per frame of the message being read: whether its body is in the shared file. */
  private inFile: boolean[] = [];
  private frames: Buffer[] = [];
  private frame: Buffer | undefined;
  private at = 0;
  /** Reading a sender's announcement of its shared file (a message of frame count 0). */
  private announcing = false;
  private shared: SharedIn | undefined;

  constructor(
    private readonly pool: BufferPool,
    private readonly deliver: (frames: Buffer[]) => void,
    private readonly fail: (why: string) => void,
    /** Open the announced file (undefined: refused), and answer the sender on the stream. */
    private readonly open: (path: string) => SharedIn | undefined,
    private readonly answer: (word: number) => void,
  ) {}

  close(): void {
    this.shared?.close();
    this.shared = undefined;
  }

  /** Where the next read goes: the rest of a large frame body, else the scratch buffer. */
  next = (): Buffer => (this.frame && this.frame.length - this.at >= SCRATCH ? this.frame.subarray(this.at) : this.scratch);

  /** `n` bytes were read into `buf` (the buffer `next` returned). */
  read = (n: number, buf: Buffer): boolean => {
    if (buf !== this.scratch) {
      this.at += n;
      return this.at < this.frame!.length || this.frameDone();
    }
    let i = 0;
    while (i < n) {
      if (this.frame) {
        const take = Math.min(this.frame.length - this.at, n - i);
        buf.copy(this.frame, this.at, i, i + take);
        this.at += take;
        i += take;
        if (this.at === this.frame.length && !this.frameDone()) return false;
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
    const count = this.prefix.readUInt32LE(0);
    if (this.prefixNeed === 4) {
      if (count > MAX_FRAMES) return this.reject(`a message of ${count} frames (0 to ${MAX_FRAMES} allowed)`);
      // count 0 announces a shared file: its path's length follows
      this.prefixNeed = 4 + 4 * Math.max(count, 1);
      return true;
    }
    this.frames = [];
    if (count === 0) {
      const len = this.prefix.readUInt32LE(4);
      if (len < 1 || len > MAX_PATH) return this.reject(`a shared file's path of ${len} bytes (1 to ${MAX_PATH} allowed)`);
      this.announcing = true;
      this.lengths = [len];
      this.inFile = [false];
      return this.startFrame();
    }
    const words = [];
    for (let o = 4; o < this.prefixNeed; o += 4) words.push(this.prefix.readUInt32LE(o));
    this.inFile = words.map((w) => (w & IN_FILE) !== 0);
    this.lengths = words.map((w) => w & ~IN_FILE);
    if (this.inFile[0] || this.lengths[0]! < 1 || this.lengths[0]! > MAX_HEADER) return this.reject(`a header of ${this.lengths[0]} bytes${this.inFile[0] ? ' in the shared file' : ''} (1 to ${MAX_HEADER} allowed, on the stream)`);
    if (this.lengths.reduce((x, y) => x + y, 0) > MAX_MESSAGE) return this.reject(`a message over ${MAX_MESSAGE / 2 ** 30} GiB`);
    if (this.inFile.some((f) => f) && !this.shared) return this.reject('a body in a shared file it never announced');
    return this.startFrame();
  }

  private startFrame(): boolean {
    const i = this.frames.length;
    const len = this.lengths[i]!;
    // the header is small and decoded at once; tensor bodies come from the pool and go back after use; a
    // body in the shared file is its offset here
    this.frame = i === 0 ? Buffer.allocUnsafe(len) : this.inFile[i] ? Buffer.allocUnsafe(4) : this.pool.acquire(len);
    this.at = 0;
    return len > 0 || this.frameDone();
  }

  private frameDone(): boolean {
    let frame = this.frame!;
    this.frame = undefined;
    if (this.announcing) {
      this.announcing = false;
      this.prefixHave = 0;
      this.prefixNeed = 4;
      this.shared?.close();
      this.shared = this.open(frame.toString());
      this.answer(this.shared ? OPENED : REFUSED);
      return true;
    }
    const i = this.frames.length;
    if (this.inFile[i]) {
      const at = frame.readUInt32LE(0);
      frame = this.pool.acquire(this.lengths[i]!);
      if (!this.shared!.read(frame, at)) {
        this.pool.release(frame);
        return this.reject(`a body of ${frame.length} bytes at ${at} past the end of its shared file`);
      }
      this.answer(at);
    }
    this.frames.push(frame);
    if (this.frames.length < this.lengths.length) return this.startFrame();
    const frames = this.frames;
    this.frames = [];
    this.prefixHave = 0;
    this.prefixNeed = 4;
    this.deliver(frames);
    return true;
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
  private readonly receivers = new Map<string, Receiver>();
  private readonly waiting = new Map<number, { frames: Buffer[]; sent: () => void }[]>();
  private readers: { socket: net.Socket; reader: Reader }[] = [];
  private closed = false;
  /** Tensor bodies sent, by the way they went: through a shared file or on the stream. */
  readonly sentBodies = { inFile: 0, onStream: 0 };

  constructor(
    private readonly index: number,
    private readonly log: Logger,
    readonly pool: BufferPool,
    private readonly deliver: Delivery,
    /** Called with a line for the log when a peer sent something this transport refuses. */
    private readonly rejected: (from: string, reason: string) => void,
    /** Move bodies through shared-memory files with receivers on this host (when the host has /dev/shm). */
    private readonly shared = sharedMemory(),
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
    for (const r of this.readers) r.socket.destroy();
    this.readers = [];
    for (const [key, r] of this.receivers) if (Number(key.split(':')[0]) < session) (r.socket.destroy(), this.receivers.delete(key));
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
    this.write(s, frames, sent);
  }

  /** Whether transfers to tower `to` now go through a shared file (its receiver opened one). */
  sharesFileWith(to: number): boolean {
    return this.receivers.get(`${this.session}:${to}`)?.file?.usable === true;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const r of this.readers) r.socket.destroy();
    for (const r of this.receivers.values()) r.socket.end();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /**
   * A receiver connected: read its hello, offer it a shared file if it reads them, then write to it. All
   * it may say after its hello are 4-byte answers about the shared file.
   */
  private accept(s: net.Socket): void {
    s.setNoDelay?.(true);
    const who = s.remoteAddress ? `${s.remoteAddress}:${s.remotePort}` : 'a local peer';
    let got = Buffer.alloc(0);
    let receiver: Receiver | undefined;
    const refuse = (why: string): void => {
      this.rejected(who, why);
      s.destroy();
    };
    const onData = (d: Buffer): void => {
      got = Buffer.concat([got, d]);
      if (receiver) {
        for (; got.length >= 4 && !s.destroyed; got = got.subarray(4)) answered(receiver, got.readUInt32LE(0), refuse);
        return;
      }
      if (got.length < HELLO_BYTES) return;
      const session = got.readUInt32LE(4);
      const from = got.readUInt32LE(8);
      const flags = got.readUInt32LE(12);
      if (!got.subarray(0, 4).equals(HELLO) || got.length !== HELLO_BYTES || from === this.index || session < this.session || flags > READS_SHARED) {
        return refuse(got.length !== HELLO_BYTES ? 'bytes after its hello' : `a bad hello (session ${session}, tower ${from}, flags ${flags})`);
      }
      got = Buffer.alloc(0);
      const key = `${session}:${from}`;
      this.receivers.get(key)?.socket.destroy();
      const r: Receiver = { socket: s, file: this.shared && flags & READS_SHARED ? this.offer(s) : undefined };
      receiver = r;
      this.receivers.set(key, r);
      s.on('close', () => {
        r.file?.close();
        if (this.receivers.get(key) === r) this.receivers.delete(key);
      });
      if (session === this.session) this.flush(from, r);
    };
    s.on('data', onData);
    s.on('error', (e) => this.log.debug({ peer: who, reason: e.message }, 'peer connection failed'));
  }

  /** A shared file for a receiver that reads them, announced on its stream (none if it cannot be made). */
  private offer(s: net.Socket): SharedOut | undefined {
    try {
      const file = new SharedOut();
      const path = Buffer.from(file.path);
      const head = Buffer.alloc(8);
      head.writeUInt32LE(path.length, 4);
      s.write(Buffer.concat([head, path]));
      return file;
    } catch (e) {
      this.log.warn({ reason: (e as Error).message }, 'no shared file for a peer: its transfers go on the stream');
      return undefined;
    }
  }

  private write(r: Receiver, frames: Buffer[], sent: () => void): void {
    write(r, frames, sent, this.sentBodies);
    if (r.file?.failed === undefined) return;
    this.log.warn({ reason: r.file.failed }, 'writing a shared file failed: this peer\'s transfers go on the stream from now on');
    r.file.failed = undefined;
  }

  private flush(to: number, r: Receiver): void {
    for (const m of this.waiting.get(to) ?? []) this.write(r, m.frames, m.sent);
    this.waiting.delete(to);
  }

  /** Connect to tower t to receive from it, again whenever the connection drops, while the session lasts. */
  private reach(session: number, t: number, endpoint: string): void {
    if (this.closed || session !== this.session) return;
    const at = parseEndpoint(endpoint);
    const name = `tower ${t} (${endpoint})`;
    let broken = false;
    const reader = new Reader(
      this.pool,
      (frames) => this.deliver(frames, name),
      (why) => {
        broken = true;
        this.rejected(name, why);
        socket.destroy();
      },
      (path) => (this.shared ? SharedIn.open(path) : undefined),
      (word) => {
        const b = Buffer.allocUnsafe(4);
        b.writeUInt32LE(word, 0);
        socket.write(b);
      },
    );
    const socket = net.connect({ ...('path' in at ? { path: at.path } : { host: at.host, port: at.port }), onread: { buffer: reader.next, callback: (n: number, buf: Uint8Array) => reader.read(n, buf as Buffer) } });
    const link = { socket, reader };
    this.readers.push(link);
    socket.setNoDelay?.(true);
    socket.on('connect', () => {
      const hello = Buffer.alloc(HELLO_BYTES);
      HELLO.copy(hello, 0);
      hello.writeUInt32LE(session, 4);
      hello.writeUInt32LE(this.index, 8);
      hello.writeUInt32LE(this.shared ? READS_SHARED : 0, 12);
      socket.write(hello);
    });
    socket.on('error', (e) => this.log.debug({ peer: name, reason: e.message }, 'peer connection failed'));
    socket.on('close', () => {
      reader.close();
      this.readers = this.readers.filter((r) => r !== link);
      if (this.closed || session !== this.session) return;
      if (broken) this.log.warn({ peer: name }, 'reconnecting to a peer after a malformed message');
      setTimeout(() => this.reach(session, t, endpoint), RECONNECT_MS).unref();
    });
  }
}

/** A receiver's connection, as its sender holds it: the socket it writes on and its shared file, if any. */
interface Receiver {
  socket: net.Socket;
  file: SharedOut | undefined;
}

/** A receiver's 4-byte answer about its sender's shared file: opened, refused, or a body read (its offset). */
function answered(r: Receiver, word: number, refuse: (why: string) => void): void {
  if (!r.file) return refuse('bytes on a sending connection');
  if (word === OPENED) r.file.usable = true;
  else if (word === REFUSED) (r.file.close(), (r.file = undefined));
  // (a body written before a failed write may still be answered: only offsets in flight are accepted)
  else if (!r.file.freed(word)) refuse(`an answer for offset ${word}, where no body of its shared file was`);
}

/**
 * One message on a stream: the prefix, then the frames, corked so they leave in as few writes as can be.
 * Large bodies go into the receiver's shared file when it has one; the stream then carries their offsets.
 */
function write(r: Receiver, frames: Buffer[], sent: () => void, bodies: { inFile: number; onStream: number }): void {
  const { socket: s, file } = r;
  const wire = frames.map((f, i) => {
    const at = i > 0 && file?.usable && f.byteLength >= SHARED_MIN ? file.put(f) : undefined;
    if (i > 0) at === undefined ? bodies.onStream++ : bodies.inFile++;
    if (at === undefined) return { f, len: f.byteLength };
    const offset = Buffer.allocUnsafe(4);
    offset.writeUInt32LE(at, 0);
    return { f: offset, len: (f.byteLength | IN_FILE) >>> 0 };
  });
  const prefix = Buffer.allocUnsafe(4 + 4 * frames.length);
  prefix.writeUInt32LE(frames.length, 0);
  wire.forEach((w, i) => prefix.writeUInt32LE(w.len, 4 + 4 * i));
  s.cork();
  s.write(prefix);
  wire.forEach((w, i) => (i === wire.length - 1 ? s.write(w.f, () => sent()) : s.write(w.f)));
  s.uncork();
}
