/**
 * What every data-set reader produces: fixed-size records (one stored image each, [H, W, C], uint8 pixels
 * or float32 values) with their labels, either in memory shared with the loader threads or in a file the
 * loader threads read by offset (an ImageNet cache does not fit in memory). Cropping, flipping, lighting
 * noise and normalisation happen later, per batch, in the loader threads (see transform.ts).
 */
import { DataError } from '../errors.js';

export type StoreDType = 'uint8' | 'float32';

export interface Store {
  /** Stored image shape [H, W, C]. */
  readonly shape: readonly [number, number, number];
  readonly dtype: StoreDType;
  readonly count: number;
  /** Class index of each record. */
  readonly labels: Int32Array;
  /** Records in memory (`count × H × W × C` values of `dtype`), shared with the loader threads. */
  readonly memory?: SharedArrayBuffer;
  /** Or records in this file: record i at byte `i × H × W × C × bytes(dtype)`. */
  readonly file?: string;
}

/** One input the reader could not use. */
export interface BadInput {
  file: string;
  reason: string;
}

export interface Source {
  readonly name: string;
  readonly classes: number;
  readonly classNames: readonly string[];
  readonly train: Store;
  readonly test: Store;
  /** Inputs skipped under `on_bad: skip`, with why. */
  readonly skipped: readonly BadInput[];
  /** A directory where statistics of the training set (mean image, PCA) may be cached, if the source has one. */
  readonly cacheDir?: string;
}

export const bytesPer = (dtype: StoreDType): number => (dtype === 'uint8' ? 1 : 4);

/**
 * The `on_bad` policy in one place: `stop` throws a DataError naming the file and what is wrong with it;
 * `skip` records it (the caller leaves the input out) and returns.
 */
export class BadInputs {
  readonly list: BadInput[] = [];
  constructor(
    private readonly policy: 'stop' | 'skip',
    private readonly warn?: (bad: BadInput) => void,
  ) {}

  report(file: string, reason: string): void {
    if (this.policy === 'stop') throw new DataError(file, `${reason} (data.on_bad: stop; set it to skip to leave such inputs out)`);
    const bad = { file, reason };
    this.list.push(bad);
    this.warn?.(bad);
  }
}

/** A store held in memory, its records copied into shared memory. */
export function memoryStore(shape: readonly [number, number, number], dtype: StoreDType, records: Uint8Array | Float32Array, labels: Int32Array): Store {
  const memory = new SharedArrayBuffer(records.byteLength);
  (dtype === 'uint8' ? new Uint8Array(memory) : new Float32Array(memory)).set(records);
  const size = shape[0] * shape[1] * shape[2];
  return { shape, dtype, count: records.length / size, labels, memory };
}
