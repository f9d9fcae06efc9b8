import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataError } from '@alexnet/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readCifar10 } from './cifar.js';

const RECORD = 3073;

/** Pixel value of image `n`, channel `c`, at (y, x): distinct enough to catch a layout mistake. */
const value = (n: number, c: number, y: number, x: number) => (n * 7 + c * 50 + y * 3 + x * 5) % 256;

/** Records in CIFAR-10's binary layout: label byte, then the red, green and blue planes, row-major. */
function batch(labels: number[], first = 0): Buffer {
  const bytes = Buffer.alloc(labels.length * RECORD);
  labels.forEach((label, i) => {
    const at = i * RECORD;
    bytes[at] = label;
    for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) bytes[at + 1 + c * 1024 + y * 32 + x] = value(first + i, c, y, x);
  });
  return bytes;
}

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'cifar-test-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const write = (name: string, bytes: Buffer) => writeFileSync(join(root, name), bytes);

/** Two training batches (5 + 4 records) and a test batch (3 records). */
function standardSet() {
  write('data_batch_1.bin', batch([0, 1, 2, 3, 4], 0));
  write('data_batch_2.bin', batch([5, 6, 7, 8], 5));
  write('test_batch.bin', batch([9, 0, 1], 100));
}

/** The DataError `fn` throws. */
function dataError(fn: () => unknown): DataError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DataError);
    return err as DataError;
  }
  throw new Error('expected a DataError');
}

describe('readCifar10', () => {
  it('reads the batches into HWC uint8 stores with their labels', () => {
    standardSet();
    const source = readCifar10({ root, on_bad: 'stop' });
    expect(source.name).toBe('cifar10');
    expect(source.classes).toBe(10);
    expect(source.classNames).toEqual(['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
    expect(source.train.shape).toEqual([32, 32, 3]);
    expect(source.train.dtype).toBe('uint8');
    expect(source.train.count).toBe(9);
    expect(source.test.count).toBe(3);
    expect([...source.train.labels]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect([...source.test.labels]).toEqual([9, 0, 1]);
    expect(source.skipped).toEqual([]);

    const train = new Uint8Array(source.train.memory!);
    const test = new Uint8Array(source.test.memory!);
    expect(train.length).toBe(9 * 3072);
    for (const [n, y, x] of [
      [0, 0, 0],
      [6, 17, 29],
      [8, 31, 31],
    ] as const) {
      for (let c = 0; c < 3; c++) expect(train[n * 3072 + (y * 32 + x) * 3 + c]).toBe(value(n, c, y, x));
    }
    expect([0, 1, 2].map((c) => test[2 * 3072 + (5 * 32 + 9) * 3 + c])).toEqual([0, 1, 2].map((c) => value(102, c, 5, 9)));
  });

  it('takes the class names from batches.meta.txt', () => {
    standardSet();
    const names = Array.from({ length: 10 }, (_, k) => `c${k}`);
    writeFileSync(join(root, 'batches.meta.txt'), `${names.join('\n')}\n\n`);
    expect(readCifar10({ root, on_bad: 'stop' }).classNames).toEqual(names);
  });

  it('stops on a truncated file, naming it', () => {
    standardSet();
    write('data_batch_2.bin', batch([5, 6, 7, 8], 5).subarray(0, 3 * RECORD + 100));
    const err = dataError(() => readCifar10({ root, on_bad: 'stop' }));
    expect(err.message).toContain(join(root, 'data_batch_2.bin'));
    expect(err.message).toContain(`truncated: ${3 * RECORD + 100} bytes is 3 whole 3073-byte records and 100 bytes over`);
  });

  it('under skip keeps the whole records of a truncated file and counts the partial one', () => {
    standardSet();
    write('data_batch_2.bin', batch([5, 6, 7, 8], 5).subarray(0, 3 * RECORD + 100));
    const warned: string[] = [];
    const source = readCifar10({ root, on_bad: 'skip' }, (b) => warned.push(b.file));
    expect(source.train.count).toBe(8);
    expect([...source.train.labels]).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(source.skipped).toHaveLength(1);
    expect(source.skipped[0]!.file).toBe(join(root, 'data_batch_2.bin'));
    expect(source.skipped[0]!.reason).toMatch(/^truncated/);
    expect(warned).toEqual([join(root, 'data_batch_2.bin')]);
  });

  it('stops on a label out of range, naming the file and the record; skip leaves that record out', () => {
    standardSet();
    write('data_batch_1.bin', batch([0, 1, 12, 3, 4], 0));
    const err = dataError(() => readCifar10({ root, on_bad: 'stop' }));
    expect(err.message).toContain(join(root, 'data_batch_1.bin'));
    expect(err.message).toContain('record 2: label 12 is out of range; allowed: 0-9');

    const source = readCifar10({ root, on_bad: 'skip' });
    expect([...source.train.labels]).toEqual([0, 1, 3, 4, 5, 6, 7, 8]);
    expect(source.skipped.map((b) => b.reason)).toEqual(['record 2: label 12 is out of range; allowed: 0-9']);
    // Record 3 of the file moved up to index 2; its pixels came with it.
    expect(new Uint8Array(source.train.memory!)[2 * 3072]).toBe(value(3, 0, 0, 0));
  });

  it('treats an empty file as bad', () => {
    standardSet();
    write('data_batch_2.bin', Buffer.alloc(0));
    expect(dataError(() => readCifar10({ root, on_bad: 'stop' })).message).toContain(join(root, 'data_batch_2.bin'));
    const source = readCifar10({ root, on_bad: 'skip' });
    expect(source.train.count).toBe(5);
    expect(source.skipped[0]!.reason).toMatch(/^empty/);
  });

  it('names the directory and the files expected when the root or the batches are missing, even under skip', () => {
    const missing = join(root, 'nowhere');
    const err = dataError(() => readCifar10({ root: missing, on_bad: 'skip' }));
    expect(err.message).toContain(missing);
    expect(err.message).toContain('data_batch_1.bin');
    expect(err.message).toContain('test_batch.bin');

    mkdirSync(missing);
    write('test_batch.bin', batch([1]));
    expect(dataError(() => readCifar10({ root, on_bad: 'skip' })).message).toMatch(/no training batches.*data_batch_1\.bin/);
  });

  it('names test_batch.bin when it is missing', () => {
    write('data_batch_1.bin', batch([1, 2]));
    expect(dataError(() => readCifar10({ root, on_bad: 'skip' })).message).toContain(join(root, 'test_batch.bin'));
  });
});
