/** Read stored records by index, from shared memory or from the store's file (by offset, one record at a time). */
import { closeSync, openSync, readSync } from 'node:fs';
import { DataError } from '../errors.js';
import { bytesPer, type Store } from './store.js';

export class RecordReader {
  readonly size: number;
  private readonly memory?: Uint8Array | Float32Array;
  private readonly fd?: number;
  private readonly bytes: Uint8Array;
  private readonly view: Uint8Array | Float32Array;

  constructor(private readonly store: Pick<Store, 'shape' | 'dtype' | 'count' | 'memory' | 'file'>) {
    this.size = store.shape[0] * store.shape[1] * store.shape[2];
    const buffer = new ArrayBuffer(this.size * bytesPer(store.dtype));
    this.bytes = new Uint8Array(buffer);
    this.view = store.dtype === 'uint8' ? this.bytes : new Float32Array(buffer);
    if (store.memory) this.memory = store.dtype === 'uint8' ? new Uint8Array(store.memory) : new Float32Array(store.memory);
    else if (store.file) this.fd = openSync(store.file, 'r');
    else throw new Error('a store needs records in memory or in a file');
  }

  /** Record i; a view valid until the next read. */
  read(i: number): Uint8Array | Float32Array {
    if (this.memory) return this.memory.subarray(i * this.size, (i + 1) * this.size);
    const n = this.bytes.length;
    const got = readSync(this.fd!, this.bytes, 0, n, i * n);
    if (got !== n) throw new DataError(this.store.file!, `record ${i} is cut short (${got} of ${n} bytes): the cache file changed; delete it to rebuild`);
    return this.view;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
  }
}
