/**
 * Image folders, `root/<class>/*.jpg|*.jpeg|*.png` (ImageNet's and Flowers 17's layout): one root for
 * training, one for validation with the same class names. Classes are the training root's subfolders,
 * sorted; a class's label is its index.
 *
 * Every image is decoded once (EXIF orientation applied, alpha flattened onto black, grey made RGB), its
 * short side resized to `size` and its centre square kept, then appended as raw uint8 [size, size, 3] to
 * `<cache>/<key>/train.u8` or `val.u8`; the loader threads read records from those files by offset, so a set
 * far larger than memory works, and later runs decode nothing. The key hashes the roots, the size, the
 * class names and every image's path, byte size and mtime: change, add or remove an image and the next run
 * builds a fresh cache. A cache is built in a temporary directory and renamed into place when complete, so
 * a crash or a concurrent run never leaves a half-written one under the key.
 *
 * Bad inputs (a stray file, an empty class folder, an image that does not decode…) go through the `on_bad`
 * policy. The folder scan runs every call, so its findings are reported every run; decode failures are
 * recorded in the cache's index and reported again on every cache hit.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { type BadInput, BadInputs, DataError, type Source, type Store } from '@alexnet/core';
import sharp from 'sharp';

/** Bump when the record layout or the decoding changes: older caches are then rebuilt. */
const VERSION = 1;
const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png'];
const ALLOWED = IMAGE_EXTENSIONS.join(', ');
const LAYOUT = 'expected <root>/<class>/*.jpg|*.jpeg|*.png';
const BROKEN_LINK = 'cannot read: a link to nothing';

export interface FoldersSpec {
  train: string;
  val: string;
  size: number;
  cache: string;
  on_bad: 'stop' | 'skip';
}

/** One image to decode. */
interface Entry {
  /** Absolute path. */
  path: string;
  /** Path under the split's root, e.g. `cat/001.jpg`. */
  rel: string;
  label: number;
  bytes: number;
  mtimeMs: number;
}

interface Scan {
  classNames: string[];
  train: Entry[];
  val: Entry[];
}

/** A split as index.json records it: label and path under the root of each record, in record order. */
interface SplitIndex {
  count: number;
  labels: number[];
  files: string[];
}

interface CacheIndex {
  version: number;
  size: number;
  classNames: string[];
  train: SplitIndex;
  val: SplitIndex;
  /** Images that did not decode (what the folder scan finds is found again each run). */
  skipped: BadInput[];
}

type Split = 'train' | 'val';

export async function readFolders(spec: FoldersSpec, warn?: (b: BadInput) => void, log?: (msg: string) => void): Promise<Source & { decoded: number }> {
  const bad = new BadInputs(spec.on_bad, warn);
  const scan = scanFolders(resolve(spec.train), resolve(spec.val), bad);
  const dir = join(resolve(spec.cache), cacheKey(spec, scan));
  let index = readIndex(dir, spec.size, log);
  let decoded = 0;
  if (index) {
    log?.(`using ${index.train.count} training and ${index.val.count} validation images decoded earlier, in ${dir}`);
    for (const b of index.skipped) bad.report(b.file, b.reason);
  } else {
    const built = await buildCache(dir, spec.size, scan, bad, log);
    index = built.index;
    decoded = built.decoded;
  }
  const shape = [spec.size, spec.size, 3] as const;
  return {
    name: setName(spec.train),
    classes: scan.classNames.length,
    classNames: scan.classNames,
    train: fileStore(shape, join(dir, 'train.u8'), index.train),
    test: fileStore(shape, join(dir, 'val.u8'), index.val),
    skipped: bad.list,
    cacheDir: dir,
    decoded,
  };
}

function fileStore(shape: readonly [number, number, number], file: string, split: SplitIndex): Store {
  return { shape, dtype: 'uint8', count: split.count, labels: Int32Array.from(split.labels), file };
}

// ─── Scanning the folders ────────────────────────────────────────────────────────────────────────────────

/** Classes from the training root; the images of both roots, in (class, file name) order; bad inputs reported. */
function scanFolders(trainRoot: string, valRoot: string, bad: BadInputs): Scan {
  const trainDirs = classFolders(trainRoot, bad);
  if (trainDirs.length === 0) throw new DataError(trainRoot, `no class folders; ${LAYOUT}`);
  const classNames = trainDirs.map((d) => basename(d));
  const train = trainDirs.flatMap((d, label) => {
    const images = imagesIn(d, trainRoot, label, bad);
    if (images.length === 0) bad.report(d, 'empty class folder: no .jpg, .jpeg or .png files');
    return images;
  });
  const val = classFolders(valRoot, bad).flatMap((d) => {
    const label = classNames.indexOf(basename(d));
    if (label >= 0) return imagesIn(d, valRoot, label, bad);
    bad.report(d, `not a training class: ${trainRoot} has no folder ${basename(d)}`);
    return [];
  });
  return { classNames, train, val };
}

/** Non-hidden entries of a directory, sorted by name. */
function listDir(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => !name.startsWith('.'))
    .sort();
}

/** The root's subfolders, sorted by name; files directly in the root are reported. */
function classFolders(root: string, bad: BadInputs): string[] {
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new DataError(root, `no such directory; ${LAYOUT}`);
  const dirs: string[] = [];
  for (const name of listDir(root)) {
    const path = join(root, name);
    const stat = statSync(path, { throwIfNoEntry: false });
    if (!stat) bad.report(path, BROKEN_LINK);
    else if (stat.isDirectory()) dirs.push(path);
    else bad.report(path, `not in a class folder; ${LAYOUT}`);
  }
  return dirs;
}

/** The images in one class folder, sorted by name; anything else in it is reported. */
function imagesIn(dir: string, root: string, label: number, bad: BadInputs): Entry[] {
  const entries: Entry[] = [];
  for (const name of listDir(dir)) {
    const path = join(dir, name);
    const stat = statSync(path, { throwIfNoEntry: false });
    const ext = extname(name).toLowerCase();
    if (!stat) bad.report(path, BROKEN_LINK);
    else if (stat.isDirectory()) bad.report(path, `a folder inside a class folder; ${LAYOUT}`);
    else if (!IMAGE_EXTENSIONS.includes(ext)) bad.report(path, `not an image (${ext || 'no extension'}); allowed: ${ALLOWED}`);
    else entries.push({ path, rel: relative(root, path), label, bytes: stat.size, mtimeMs: stat.mtimeMs });
  }
  return entries;
}

/** `<train root's name>-<16 hex digits>`: a hash of everything the cached records depend on. */
function cacheKey(spec: FoldersSpec, scan: Scan): string {
  const files = (split: Split) => scan[split].map((e) => [`${split}/${e.rel}`, e.bytes, e.mtimeMs]);
  const inputs = {
    version: VERSION,
    train: resolve(spec.train),
    val: resolve(spec.val),
    size: spec.size,
    classNames: scan.classNames,
    files: [...files('train'), ...files('val')],
  };
  const hash = createHash('sha256').update(JSON.stringify(inputs)).digest('hex');
  const prefix = setName(spec.train).replace(/[^\w.-]/g, '_');
  return `${prefix}-${hash.slice(0, 16)}`;
}

// ─── The cache ───────────────────────────────────────────────────────────────────────────────────────────

/** The index of a complete cache in `dir`, or undefined (none there, or one this version cannot use: removed). */
function readIndex(dir: string, size: number, log?: (msg: string) => void): CacheIndex | undefined {
  const file = join(dir, 'index.json');
  if (!existsSync(file)) return undefined;
  const index = parseIndex(file);
  if (index && usable(dir, index, size)) return index;
  log?.(`the image cache ${dir} is from another version or incomplete; rebuilding it`);
  rmSync(dir, { recursive: true, force: true });
  return undefined;
}

function parseIndex(file: string): CacheIndex | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as CacheIndex;
  } catch {
    return undefined;
  }
}

/** Written by this version, at this size, and each record file holds exactly the records the index lists. */
function usable(dir: string, index: CacheIndex, size: number): boolean {
  const complete = (split: Split) => {
    const file = join(dir, `${split}.u8`);
    return existsSync(file) && statSync(file).size === index[split].count * size * size * 3;
  };
  return index.version === VERSION && index.size === size && complete('train') && complete('val');
}

/** Decodes both splits into a temporary directory of its own and renames it to `dir` (unless another run got there first). */
async function buildCache(dir: string, size: number, scan: Scan, bad: BadInputs, log?: (msg: string) => void): Promise<{ index: CacheIndex; decoded: number }> {
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = mkdtempSync(`${dir}.tmp-${process.pid}-`);
  try {
    log?.(`decoding ${scan.train.length} training and ${scan.val.length} validation images to ${size}×${size} into ${dir}`);
    const failures: BadInput[] = [];
    const report = (b: BadInput) => {
      bad.report(b.file, b.reason);
      failures.push(b);
    };
    const train = await decodeSplit(scan.train, size, join(tmp, 'train.u8'), report, log);
    const val = await decodeSplit(scan.val, size, join(tmp, 'val.u8'), report, log);
    const index: CacheIndex = { version: VERSION, size, classNames: scan.classNames, train, val, skipped: failures };
    writeFileSync(join(tmp, 'index.json'), JSON.stringify(index));
    publish(tmp, dir);
    return { index, decoded: train.count + val.count };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Renames the finished temporary directory to `dir`; if another run already did, keeps theirs (the same
 * key means the same inputs, so the same records and index).
 */
function publish(tmp: string, dir: string): void {
  try {
    renameSync(tmp, dir);
  } catch (err) {
    if (!existsSync(join(dir, 'index.json'))) throw err;
  }
}

// ─── Decoding ────────────────────────────────────────────────────────────────────────────────────────────

type Decoded = { pixels: Buffer } | { error: string };

/** Decodes the entries a few at a time, appending each image's record to `out` in entry order. */
async function decodeSplit(entries: Entry[], size: number, out: string, report: (b: BadInput) => void, log?: (msg: string) => void): Promise<SplitIndex> {
  const index: SplitIndex = { count: 0, labels: [], files: [] };
  const inFlight: Promise<Decoded>[] = [];
  const limit = Math.max(2, availableParallelism());
  const progressEvery = Math.max(1000, Math.ceil(entries.length / 20));
  let started = 0;
  const startNext = () => {
    if (started < entries.length) inFlight.push(decodeImage(entries[started++]!.path, size));
  };
  for (let k = 0; k < limit; k++) startNext();
  const handle = await open(out, 'w');
  try {
    for (const [i, entry] of entries.entries()) {
      const result = await inFlight.shift()!;
      startNext();
      if ('error' in result) {
        report({ file: entry.path, reason: result.error });
        continue;
      }
      const { bytesWritten } = await handle.write(result.pixels);
      if (bytesWritten !== result.pixels.length) throw new DataError(out, `wrote ${bytesWritten} of a record's ${result.pixels.length} bytes (is the disk full?)`);
      index.count++;
      index.labels.push(entry.label);
      index.files.push(entry.rel);
      if ((i + 1) % progressEvery === 0) log?.(`decoded ${i + 1} of ${entries.length} images for ${basename(out)}`);
    }
  } finally {
    await handle.close();
  }
  return index;
}

/**
 * One image as size × size × channels uint8, RGB (3) or grey (1): short side to `size`, centre square; never
 * rejects. The cache's records are decoded with channels 3; `predict` decodes with this same function, so a
 * user's image reaches the net as a training image did.
 */
export async function decodeImage(file: string, size: number, channels: 1 | 3 = 3): Promise<Decoded> {
  try {
    const { data, info } = await sharp(file, { failOn: 'error' })
      .autoOrient()
      .resize(size, size, { fit: 'cover', position: 'centre' })
      .flatten()
      .toColourspace(channels === 1 ? 'b-w' : 'srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.width !== size || info.height !== size || info.channels !== channels || data.length !== size * size * channels) {
      return { error: `decoded to ${info.width}×${info.height}×${info.channels} (${data.length} bytes), expected ${size}×${size}×${channels}` };
    }
    return { pixels: data };
  } catch (err) {
    return { error: `cannot decode: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** The set's name: the train root's folder name, or its parent's when that is just `train` (ImageNet, --data). */
function setName(train: string): string {
  const abs = resolve(train);
  return /^train$/i.test(basename(abs)) ? basename(dirname(abs)) : basename(abs);
}
