/**
 * Batches made ahead of training in worker threads, so the towers do not wait on data: the train loop asks
 * for the next few steps' batches (data.prefetch) and each thread crops, flips, lights and normalises its
 * share while the towers compute. Requests go to the thread with the fewest outstanding; replies carry the
 * images as a transferred buffer (no copy).
 */

import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { AlexnetError } from '../errors.js';
import type { ViewMode } from './batch.js';
import type { Store } from './store.js';
import type { TransformSpec } from './transform.js';

export type StoreRef = Pick<Store, 'shape' | 'dtype' | 'count' | 'memory' | 'file'>;

export interface LoaderInit {
  train: StoreRef;
  test: StoreRef;
  spec: TransformSpec;
}
export interface LoaderRequest {
  id: number;
  split: 'train' | 'test';
  indices: Uint32Array;
  mode: ViewMode;
  keyBase: number;
}
export type LoaderReply = { id: number; images: Float32Array } | { id: number; error: string };

const workerPath = (): string => fileURLToPath(import.meta.resolve('@alexnet/core/loader-worker'));
const ref = (s: Store): StoreRef => ({ shape: s.shape, dtype: s.dtype, count: s.count, ...(s.memory ? { memory: s.memory } : {}), ...(s.file ? { file: s.file } : {}) });

export class Loader {
  private readonly workers: Worker[];
  private readonly outstanding: number[];
  private readonly pending = new Map<number, { worker: number; resolve: (x: Float32Array) => void; reject: (e: Error) => void }>();
  private next = 0;
  private failed: Error | undefined;

  constructor(train: Store, test: Store, spec: TransformSpec, threads: number) {
    const init: LoaderInit = { train: ref(train), test: ref(test), spec };
    this.workers = Array.from({ length: threads }, (_, w) => {
      const worker = new Worker(workerPath(), { workerData: init });
      worker.on('message', (r: LoaderReply) => this.settle(r));
      worker.on('error', (e) => this.fail(new AlexnetError('E_DATA', `loader thread ${w} failed: ${e.message}`)));
      worker.on('exit', (code) => code !== 0 && this.fail(new AlexnetError('E_DATA', `loader thread ${w} exited with code ${code}`)));
      worker.unref();
      return worker;
    });
    this.outstanding = this.workers.map(() => 0);
  }

  /** Images `indices` of `split` as one [n × views, h, w, C] array. */
  batch(split: 'train' | 'test', indices: Uint32Array, mode: ViewMode, keyBase = 0): Promise<Float32Array> {
    const batch = this.failed ? Promise.reject(this.failed) : this.post(split, indices, mode, keyBase);
    // A batch made ahead may never be awaited (the run stopped first): its failure must not surface as an
    // unhandled rejection. Whoever awaits it still gets the error.
    batch.catch(() => undefined);
    return batch;
  }

  private post(split: 'train' | 'test', indices: Uint32Array, mode: ViewMode, keyBase: number): Promise<Float32Array> {
    const id = this.next++;
    const w = this.outstanding.indexOf(Math.min(...this.outstanding));
    this.outstanding[w]!++;
    // (a copy: posting a view would copy its whole buffer, e.g. an epoch's permutation)
    const req: LoaderRequest = { id, split, indices: indices.slice(), mode, keyBase };
    return new Promise<Float32Array>((resolve, reject) => {
      this.pending.set(id, { worker: w, resolve, reject });
      this.workers[w]!.postMessage(req);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private settle(r: LoaderReply): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    this.outstanding[p.worker]!--;
    if ('error' in r) p.reject(new AlexnetError('E_DATA', r.error));
    else p.resolve(r.images);
  }

  private fail(e: Error): void {
    this.failed ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}

/**
 * Training batches made ahead: taking step s's batch first asks the loader for steps s … s + depth (those
 * not asked for yet, below `end`), so the threads work on them while the towers compute. Each sample's
 * augmentation is keyed by its position in training (step × batch + index).
 */
export interface BatchSource<T> {
  batch(split: 'train' | 'test', indices: Uint32Array, mode: ViewMode, keyBase?: number): Promise<T>;
}

export class Prefetch<T = Float32Array> {
  private readonly ahead = new Map<number, Promise<T>>();

  constructor(
    private readonly loader: BatchSource<T>,
    private readonly indicesOf: (step: number) => Uint32Array,
    private readonly batch: number,
    private readonly depth: number,
    private readonly end = Number.POSITIVE_INFINITY,
  ) {}

  /** Step `step`'s images, and how long this waited for them (ms). */
  async take(step: number): Promise<{ images: T; waitMs: number }> {
    for (let s = step; s <= step + this.depth && s < this.end; s++) {
      if (!this.ahead.has(s)) this.ahead.set(s, this.loader.batch('train', this.indicesOf(s), 'train', s * this.batch));
    }
    const t0 = performance.now();
    const images = await this.ahead.get(step)!;
    this.ahead.delete(step);
    return { images, waitMs: performance.now() - t0 };
  }
}
