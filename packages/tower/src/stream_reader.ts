/**
 * Reading one peer stream. A message is [u32 frame count][u32 length of each frame][the frames],
 * little-endian; the first frame is the header, which core's strict codec decodes. A count or length out
 * of bounds leaves the stream unreadable: the owner logs it, drops the connection and connects again.
 *
 * A sender announces its shared file in a message of frame count 0 ([0][u32 length][path]); the reader
 * answers on the same socket (OPENED or REFUSED, 4 bytes). A body in the file has bit 31 set in its
 * length, and the stream carries its u32 offset; the reader answers each with that offset once it has
 * read the body.
 */
import type { BufferPool } from './buffer_pool.js';
import { OPENED, REFUSED, type SharedIn } from './shared_file.js';

/** Frames a message may have (a header and its tensors) and the largest header accepted. */
const MAX_FRAMES = 8;
const MAX_HEADER = 1 << 20;
/** A whole message at most (the paper net's largest transfer at batch 128 is 5.5 MB): more is refused, not allocated. */
const MAX_MESSAGE = 1 << 30;
/** A length with this bit set: the body is in the shared file, and the stream carries its offset. */
export const IN_FILE = 0x80000000;
const MAX_PATH = 255;
/** Reads smaller than this go through one scratch buffer; larger tensor bodies are read in place. */
const SCRATCH = 64 << 10;

/** One receiving connection's reader: frames are filled in place, large tensor bodies without a copy. */
export class Reader {
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
    if (this.inFile[0] || this.lengths[0]! < 1 || this.lengths[0]! > MAX_HEADER)
      return this.reject(`a header of ${this.lengths[0]} bytes${this.inFile[0] ? ' in the shared file' : ''} (1 to ${MAX_HEADER} allowed, on the stream)`);
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
