/**
 * CIFAR-10's binary version, read from disk as the download unpacks it: `data_batch_1.bin` …
 * `data_batch_5.bin` for training and `test_batch.bin` for testing, each a run of 3073-byte records (a label
 * byte, then the 32×32 red, green and blue planes, row-major). The planes are interleaved here into the
 * [H, W, C] layout every store uses; the whole set (≈180 MB) is held in memory. A truncated file, an empty
 * one or a label out of range goes through the `on_bad` policy; a missing file is always an error.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type BadInput, BadInputs, DataError, memoryStore, type Source, type Store } from '@alexnet/core';

const SIDE = 32;
const PIXELS = SIDE * SIDE;
const IMAGE = 3 * PIXELS;
const RECORD = 1 + IMAGE;
const CLASSES = 10;
const TRAIN_FILES = [1, 2, 3, 4, 5].map((k) => `data_batch_${k}.bin`);
const TEST_FILE = 'test_batch.bin';
const META_FILE = 'batches.meta.txt';
const STANDARD_NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
const EXPECTED = `expected CIFAR-10's binary version: ${TRAIN_FILES[0]} … ${TRAIN_FILES[4]} and ${TEST_FILE}`;

export function readCifar10(spec: { root: string; on_bad: 'stop' | 'skip' }, warn?: (b: BadInput) => void): Source {
  const bad = new BadInputs(spec.on_bad, warn);
  const { train, test } = batchFiles(spec.root);
  return {
    name: 'cifar10',
    classes: CLASSES,
    classNames: classNames(spec.root, bad),
    train: readBatches(train, bad),
    test: readBatches([test], bad),
    skipped: bad.list,
  };
}

/** The training batches present (in order; at least one) and the test batch, or a DataError naming what is missing. */
function batchFiles(root: string): { train: string[]; test: string } {
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new DataError(root, `no such directory; ${EXPECTED}`);
  const train = TRAIN_FILES.map((f) => join(root, f)).filter((f) => existsSync(f));
  if (train.length === 0) throw new DataError(root, `no training batches (${TRAIN_FILES.join(', ')}); ${EXPECTED}`);
  const test = join(root, TEST_FILE);
  if (!existsSync(test)) throw new DataError(test, `missing: the test batch; ${EXPECTED}`);
  return { train, test };
}

/** `batches.meta.txt` (one name a line) if present, else the standard names. */
function classNames(root: string, bad: BadInputs): string[] {
  const file = join(root, META_FILE);
  if (!existsSync(file)) return STANDARD_NAMES;
  const names = readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '');
  if (names.length === CLASSES) return names;
  bad.report(file, `has ${names.length} class names; expected ${CLASSES}, one a line (the standard names are used instead)`);
  return STANDARD_NAMES;
}

/** The files' usable records in one store: whole records with a label in range, in file order. */
function readBatches(files: string[], bad: BadInputs): Store {
  const capacity = files.reduce((n, f) => n + Math.floor(statSync(f).size / RECORD), 0);
  const pixels = new Uint8Array(capacity * IMAGE);
  const labels = new Int32Array(capacity);
  let kept = 0;
  for (const file of files) {
    const bytes = readFileSync(file);
    for (const i of usableRecords(file, bytes, bad)) {
      labels[kept] = bytes[i * RECORD]!;
      interleave(bytes.subarray(i * RECORD + 1, (i + 1) * RECORD), pixels.subarray(kept * IMAGE, (kept + 1) * IMAGE));
      kept++;
    }
  }
  return memoryStore([SIDE, SIDE, 3], 'uint8', pixels.subarray(0, kept * IMAGE), labels.slice(0, kept));
}

/** Indices of the file's whole records whose label is in range; reports an empty or truncated file and each bad label. */
function usableRecords(file: string, bytes: Uint8Array, bad: BadInputs): number[] {
  const whole = Math.floor(bytes.length / RECORD);
  const over = bytes.length % RECORD;
  if (bytes.length === 0) bad.report(file, `empty: 0 bytes, no ${RECORD}-byte records`);
  else if (over !== 0) bad.report(file, `truncated: ${bytes.length} bytes is ${whole} whole ${RECORD}-byte records and ${over} bytes over`);
  const usable: number[] = [];
  for (let i = 0; i < whole; i++) {
    const label = bytes[i * RECORD]!;
    if (label < CLASSES) usable.push(i);
    else bad.report(file, `record ${i}: label ${label} is out of range; allowed: 0-${CLASSES - 1}`);
  }
  return usable;
}

/** Planar R, G, B (1024 bytes each) → interleaved RGB pixels, row-major. */
function interleave(planar: Uint8Array, out: Uint8Array): void {
  for (let p = 0; p < PIXELS; p++) {
    out[3 * p] = planar[p]!;
    out[3 * p + 1] = planar[PIXELS + p]!;
    out[3 * p + 2] = planar[2 * PIXELS + p]!;
  }
}
