/**
 * Transfer bodies through a file in shared memory (`/dev/shm`) when a sender and its receiver run on the
 * same host, as NCCL's SHM transport does between GPUs without a direct path: the sender writes the body
 * into the file and puts only its offset on the stream, the receiver reads it into its own pooled buffer
 * and tells the sender that the place is free again. On tmpfs both copies run near memory speed, several
 * times a Unix socket's (docs/benchmarks.md), and the socket carries a few bytes per tensor. A receiver
 * on another host (or another user) cannot open the file and says so: its transfers stay on the stream.
 *
 * The sender creates the file; the receiver opens it and removes its name at once, so nothing is left
 * behind once both have closed it (a sender killed before its receiver opened the file leaves it, empty).
 * The receiver only opens names this module makes, in `SHARED_DIR`.
 */
import { randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants, fstatSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export const SHARED_DIR = '/dev/shm';
/** The receiver's answers on the stream it reads (4 bytes each); any other word frees that offset. */
export const OPENED = 0xffffffff;
export const REFUSED = 0xfffffffe;
/**
 * Bodies smaller than this stay on the stream, where they cost less than a file write, a read and an
 * answer. ALEXNET_SHM_MIN_BYTES sets it (the tests send the tiny net's few-KB transfers through the file).
 */
export const SHARED_MIN = minBytes(process.env.ALEXNET_SHM_MIN_BYTES);

function minBytes(v: string | undefined): number {
  if (v === undefined) return 64 << 10;
  if (!/^\d+$/.test(v)) throw new Error(`ALEXNET_SHM_MIN_BYTES is ${JSON.stringify(v)}: a whole number of bytes is allowed`);
  return Number(v);
}
/** Offsets stay below 2³¹, clear of the answers above; past that, bodies go on the stream. */
const MAX_FILE = 2 ** 31 - 1;
const ALIGN = 4096;
const NAME = /^alexnet-peer-\d+-[0-9a-f]{12}$/;

/** Whether this host has a shared-memory directory this process may write in. */
export function sharedMemory(): boolean {
  try {
    if (!statSync(SHARED_DIR).isDirectory()) return false;
    accessSync(SHARED_DIR, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** The sender's side: the file, which places in it are in flight, and which are free (by size). */
export class SharedOut {
  readonly path = join(SHARED_DIR, `alexnet-peer-${process.pid}-${randomBytes(6).toString('hex')}`);
  private readonly fd = openSync(this.path, 'wx+', 0o600);
  /** Set once the receiver says it opened the file; cleared if a write fails. */
  usable = false;
  /** Why a write failed (a full /dev/shm: Docker gives containers 64 MB unless told otherwise). */
  failed: string | undefined;
  private end = 0;
  private readonly free = new Map<number, number[]>();
  private readonly inflight = new Map<number, number>();
  private closed = false;

  /**
   * Write `body` into the file; its offset, or undefined if it does not fit (send it on the stream). After
   * a failed write (`failed` says why) the file is no longer used.
   */
  put(body: Buffer): number | undefined {
    const n = body.byteLength;
    const reused = this.free.get(n)?.pop();
    const at = reused ?? this.end;
    if (reused === undefined && this.end + n > MAX_FILE) return undefined;
    try {
      for (let done = 0; done < n; ) done += writeSync(this.fd, body, done, n - done, at + done);
    } catch (e) {
      this.usable = false;
      this.failed = (e as Error).message;
      return undefined;
    }
    if (reused === undefined) this.end += Math.ceil(n / ALIGN) * ALIGN;
    this.inflight.set(at, n);
    return at;
  }

  /** Bodies written and not yet read by the receiver. */
  get inFlight(): number {
    return this.inflight.size;
  }

  /** The receiver has read the body at `at`; false if nothing was in flight there. */
  freed(at: number): boolean {
    const n = this.inflight.get(at);
    if (n === undefined) return false;
    this.inflight.delete(at);
    const list = this.free.get(n) ?? [];
    list.push(at);
    this.free.set(n, list);
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      closeSync(this.fd);
    } catch {
      // already closed under us: nothing more to free
    }
    rmSync(this.path, { force: true });
  }
}

/** The receiver's side: the sender's file, opened read-only and unnamed at once. */
export class SharedIn {
  private constructor(private readonly fd: number) {}

  /** Open the file a sender named; undefined (and the name left alone) if it is not one of ours or not here. */
  static open(path: string): SharedIn | undefined {
    if (dirname(path) !== SHARED_DIR || !NAME.test(basename(path))) return undefined;
    let fd: number | undefined;
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
      if (!fstatSync(fd).isFile()) throw new Error('not a file');
      rmSync(path, { force: true });
      return new SharedIn(fd);
    } catch {
      if (fd !== undefined) closeSync(fd);
      return undefined;
    }
  }

  /** Read `into.length` bytes at `at`; false if the file holds fewer there. */
  read(into: Buffer, at: number): boolean {
    let done = 0;
    while (done < into.length) {
      const n = readSync(this.fd, into, done, into.length - done, at + done);
      if (n === 0) return false;
      done += n;
    }
    return true;
  }

  close(): void {
    closeSync(this.fd);
  }
}
