/**
 * Peer traffic over plain stream sockets (a Unix socket for `ipc://`, TCP for `tcp://`), used when the
 * towers run without keys. Why not ZeroMQ: zeromq.js hands every received message to JavaScript as a
 * fresh external buffer, and at megabytes per transfer V8 then runs a mark-compact every few tens of
 * milliseconds to free them. Here the receiver reads straight into reused buffers (`BufferPool`).
 *
 * Each connection carries one direction. The receiver connects to the sender's server and says who it
 * is (a hello with its session, index and whether it reads shared files); the sender writes that
 * receiver's transfers on the accepted socket, framed as stream_reader.ts reads them (docs/formats.md).
 * On one host, tensor bodies travel through a shared-memory file instead (shared_file.ts).
 */
import { rmSync } from 'node:fs';
import net from 'node:net';
import type { Logger } from 'pino';
import type { BufferPool } from './buffer_pool.js';
import { OPENED, REFUSED, SHARED_MIN, SharedIn, SharedOut, sharedMemory } from './shared_file.js';
import { IN_FILE, Reader } from './stream_reader.js';

const HELLO = Buffer.from('AXP2');
const HELLO_BYTES = 16;
/** The hello's flag: this receiver reads bodies from a shared file. */
const READS_SHARED = 1;
const RECONNECT_MS = 100;

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

/** A whole message: frames as received, and a name for its sender to log. */
export type Delivery = (frames: Buffer[], from: string) => void;

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
    for (const [key, r] of this.receivers) {
      if (Number(key.split(':')[0]) >= session) continue;
      r.socket.destroy();
      this.receivers.delete(key);
    }
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
        refuse(got.length !== HELLO_BYTES ? 'bytes after its hello' : `a bad hello (session ${session}, tower ${from}, flags ${flags})`);
        return;
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
    this.log.warn({ reason: r.file.failed }, "writing a shared file failed: this peer's transfers go on the stream from now on");
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
    const socket = net.connect({
      ...('path' in at ? { path: at.path } : { host: at.host, port: at.port }),
      onread: { buffer: reader.next, callback: (n: number, buf: Uint8Array) => reader.read(n, buf as Buffer) },
    });
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
  if (!r.file) {
    refuse('bytes on a sending connection');
    return;
  }
  if (word === OPENED) r.file.usable = true;
  else if (word === REFUSED) {
    r.file.close();
    r.file = undefined;
  }
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
