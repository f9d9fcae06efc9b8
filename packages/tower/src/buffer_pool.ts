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
