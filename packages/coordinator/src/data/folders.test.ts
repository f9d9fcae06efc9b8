import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { BadInput, Store } from '@alexnet/core';
import { DataError } from '@alexnet/core';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFolders } from './folders.js';

type RGB = readonly [number, number, number];
const RED: RGB = [255, 0, 0];
const GREEN: RGB = [0, 255, 0];
const BLUE: RGB = [0, 0, 255];
const SIZE = 16;
const RECORD = SIZE * SIZE * 3;

let tmp: string;
let train: string;
let val: string;
let cache: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'folders-test-'));
  train = join(tmp, 'flowers');
  val = join(tmp, 'val');
  cache = join(tmp, 'cache');
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

const spec = (on_bad: 'stop' | 'skip' = 'stop') => ({ train, val, size: SIZE, cache, on_bad });

/** An image file `w`×`h` whose pixel (x, y) is `colour(x, y)`, RGB or (with a 4th value) RGBA; format from the extension. */
async function image(path: string, w: number, h: number, colour: (x: number, y: number) => readonly number[]): Promise<Buffer> {
  const channels = colour(0, 0).length as 1 | 3 | 4;
  const raw = Buffer.alloc(w * h * channels);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) raw.set(colour(x, y), (y * w + x) * channels);
  const img = sharp(raw, { raw: { width: w, height: h, channels } });
  const bytes = await (/\.png$/i.test(path) ? img.png() : img.jpeg({ quality: 95 })).toBuffer();
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
  return bytes;
}

/**
 * Classes cat, dog, fish (sorted). cat: a solid red 40×24 JPEG and a 48×16 PNG red | green | blue in thirds
 * (its centre square is green); dog: a grey PNG and a solid blue 24×40 .JPG; fish: a 16×16 RGBA PNG, left
 * half opaque yellow, right half transparent white. Validation: cat and dog, one image each; no fish folder.
 */
async function standardSet(): Promise<void> {
  await image(join(train, 'cat', 'red.jpg'), 40, 24, () => RED);
  await image(join(train, 'cat', 'wide.png'), 48, 16, (x) => (x < 16 ? RED : x < 32 ? GREEN : BLUE));
  await image(join(train, 'dog', 'gray.png'), 20, 20, () => [128]);
  await image(join(train, 'dog', 'tall.JPG'), 24, 40, () => BLUE);
  await image(join(train, 'fish', 'alpha.png'), 16, 16, (x) => (x < 8 ? [255, 255, 0, 255] : [255, 255, 255, 0]));
  await image(join(val, 'cat', 'v.jpeg'), 30, 30, () => RED);
  await image(join(val, 'dog', 'v.png'), 17, 33, () => BLUE);
}

const records = (store: Store) => readFileSync(store.file!);
const pixel = (bytes: Buffer, record: number, x: number, y: number) => [...bytes.subarray(record * RECORD + (y * SIZE + x) * 3, record * RECORD + (y * SIZE + x) * 3 + 3)];
const near = (got: number[], want: readonly number[], tolerance: number) => got.every((v, c) => Math.abs(v - want[c]!) <= tolerance);

async function dataError(p: Promise<unknown>): Promise<DataError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(DataError);
    return err as DataError;
  }
  throw new Error('expected a DataError');
}

describe('readFolders', () => {
  it('decodes the folders into size × size × 3 records: short side resized, centre cropped, RGB', async () => {
    await standardSet();
    const logged: string[] = [];
    const source = await readFolders(spec(), undefined, (m) => logged.push(m));
    expect(source.name).toBe('flowers');
    expect(source.classes).toBe(3);
    expect(source.classNames).toEqual(['cat', 'dog', 'fish']);
    expect(source.decoded).toBe(7);
    expect(source.skipped).toEqual([]);
    expect(source.train.shape).toEqual([SIZE, SIZE, 3]);
    expect(source.train.dtype).toBe('uint8');
    expect(source.train.memory).toBeUndefined();
    expect([source.train.count, source.test.count]).toEqual([5, 2]);
    expect([...source.train.labels]).toEqual([0, 0, 1, 1, 2]);
    expect([...source.test.labels]).toEqual([0, 1]);
    expect(source.cacheDir).toBe(dirname(source.train.file!));
    expect(basename(source.cacheDir!)).toMatch(/^flowers-[0-9a-f]{16}$/);
    expect(readdirSync(cache)).toEqual([basename(source.cacheDir!)]);
    expect(logged.some((m) => m.startsWith('decoding 5 training and 2 validation images'))).toBe(true);

    const t = records(source.train);
    expect(t.length).toBe(5 * RECORD);
    for (let y = 0; y < SIZE; y += 5) {
      for (let x = 0; x < SIZE; x += 5) {
        expect(near(pixel(t, 0, x, y), RED, 8)).toBe(true);
        expect(pixel(t, 1, x, y)).toEqual(GREEN);
        expect(pixel(t, 2, x, y)).toEqual([128, 128, 128]);
        expect(near(pixel(t, 3, x, y), BLUE, 8)).toBe(true);
      }
    }
    expect(pixel(t, 4, 2, 5)).toEqual([255, 255, 0]);
    expect(pixel(t, 4, 13, 5)).toEqual([0, 0, 0]);
    const v = records(source.test);
    expect(near(pixel(v, 0, 8, 8), RED, 8)).toBe(true);
    expect(pixel(v, 1, 8, 8)).toEqual([...BLUE]);
  });

  it('applies the EXIF orientation before cropping', async () => {
    await standardSet();
    // Stored 32×16, left half red, right half blue; orientation 6 shows it turned 90° clockwise: 16×32, red above blue.
    const raw = Buffer.alloc(32 * 16 * 3);
    for (let p = 0; p < 32 * 16; p++) raw.set(p % 32 < 16 ? RED : BLUE, p * 3);
    writeFileSync(
      join(train, 'fish', 'turned.jpg'),
      await sharp(raw, { raw: { width: 32, height: 16, channels: 3 } })
        .jpeg({ quality: 95 })
        .withMetadata({ orientation: 6 })
        .toBuffer(),
    );
    const t = records((await readFolders(spec())).train);
    expect(near(pixel(t, 5, 3, 2), RED, 8)).toBe(true);
    expect(near(pixel(t, 5, 12, 2), RED, 8)).toBe(true);
    expect(near(pixel(t, 5, 3, 13), BLUE, 8)).toBe(true);
    expect(near(pixel(t, 5, 12, 13), BLUE, 8)).toBe(true);
  });

  it('reads the cache on a second call without decoding; a changed file builds a new cache', async () => {
    await standardSet();
    const first = await readFolders(spec());
    const second = await readFolders(spec());
    expect(second.decoded).toBe(0);
    expect(second.cacheDir).toBe(first.cacheDir);
    expect(second.train.file).toBe(first.train.file);
    expect([...second.train.labels]).toEqual([...first.train.labels]);
    expect(records(second.train).equals(records(first.train))).toBe(true);
    expect(records(second.test).equals(records(first.test))).toBe(true);

    utimesSync(join(train, 'dog', 'gray.png'), new Date(), new Date(Date.now() + 5000));
    const third = await readFolders(spec());
    expect(third.decoded).toBe(7);
    expect(third.cacheDir).not.toBe(first.cacheDir);
    expect(records(third.train).equals(records(first.train))).toBe(true);

    await image(join(train, 'fish', 'more.png'), 16, 16, () => GREEN);
    const fourth = await readFolders(spec());
    expect(fourth.decoded).toBe(8);
    expect([...fourth.train.labels]).toEqual([0, 0, 1, 1, 2, 2]);
    expect(readdirSync(cache).sort()).toEqual([first.cacheDir, third.cacheDir, fourth.cacheDir].map((d) => basename(d!)).sort());
  });

  it('lets concurrent builds of the same cache race: one wins, both read the same records', async () => {
    await standardSet();
    const [a, b] = await Promise.all([readFolders(spec()), readFolders(spec())]);
    expect(a.decoded + b.decoded).toBe(14);
    expect(a.cacheDir).toBe(b.cacheDir);
    expect(readdirSync(cache)).toEqual([basename(a.cacheDir!)]);
    expect(records(a.train).length).toBe(5 * RECORD);
    expect((await readFolders(spec())).decoded).toBe(0);
  });

  /** Each bad input: under stop a DataError naming its path; under skip the rest loads and it is listed with why. */
  const cases: { name: string; make: () => Promise<unknown>; path: () => string; reason: RegExp; train: number; classes?: number }[] = [
    {
      name: 'a .jpg that is text',
      make: async () => writeFileSync(join(train, 'cat', 'text.jpg'), 'not a JPEG at all'),
      path: () => join(train, 'cat', 'text.jpg'),
      reason: /^cannot decode: /,
      train: 5,
    },
    {
      name: 'a .jpg of random bytes',
      make: async () => writeFileSync(join(train, 'cat', 'noise.jpg'), Buffer.from(Array.from({ length: 500 }, (_, i) => (i * 7919 + 13) % 256))),
      path: () => join(train, 'cat', 'noise.jpg'),
      reason: /^cannot decode: /,
      train: 5,
    },
    {
      name: 'a truncated JPEG',
      make: async () => {
        const bytes = await image(join(train, 'dog', 'cut.jpg'), 32, 32, (x, y) => [(x * 8) % 256, (y * 8) % 256, ((x + y) * 4) % 256]);
        writeFileSync(join(train, 'dog', 'cut.jpg'), bytes.subarray(0, Math.floor(bytes.length * 0.6)));
      },
      path: () => join(train, 'dog', 'cut.jpg'),
      reason: /^cannot decode: .*premature end/i,
      train: 5,
    },
    {
      name: 'a truncated PNG',
      make: async () => {
        const bytes = await image(join(train, 'fish', 'cut.png'), 32, 32, (x, y) => [(x * 8) % 256, (y * 8) % 256, ((x + y) * 4) % 256]);
        writeFileSync(join(train, 'fish', 'cut.png'), bytes.subarray(0, Math.floor(bytes.length * 0.6)));
      },
      path: () => join(train, 'fish', 'cut.png'),
      reason: /^cannot decode: /,
      train: 5,
    },
    {
      name: 'notes.txt in a class folder',
      make: async () => writeFileSync(join(train, 'fish', 'notes.txt'), 'hello'),
      path: () => join(train, 'fish', 'notes.txt'),
      reason: /^not an image \(\.txt\); allowed: \.jpg, \.jpeg, \.png/,
      train: 5,
    },
    {
      name: 'a link to nothing',
      make: async () => symlinkSync(join(tmp, 'gone.jpg'), join(train, 'dog', 'link.jpg')),
      path: () => join(train, 'dog', 'link.jpg'),
      reason: /^cannot read/,
      train: 5,
    },
    {
      name: 'a file outside the class folders',
      make: async () => writeFileSync(join(train, 'README.md'), 'hello'),
      path: () => join(train, 'README.md'),
      reason: /^not in a class folder/,
      train: 5,
    },
    {
      name: 'an empty class folder',
      make: async () => mkdirSync(join(train, 'eel')),
      path: () => join(train, 'eel'),
      reason: /^empty class folder: no \.jpg, \.jpeg or \.png files/,
      train: 5,
      classes: 4,
    },
    {
      name: 'a validation folder that is not a training class',
      make: () => image(join(val, 'bird', 'b.png'), 16, 16, () => RED),
      path: () => join(val, 'bird'),
      reason: /^not a training class/,
      train: 5,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: stop names it, skip leaves it out`, async () => {
      await standardSet();
      await c.make();
      const err = await dataError(readFolders(spec('stop')));
      expect(err.file).toBe(c.path());
      expect(err.message).toContain(c.path());
      expect(err.reason).toMatch(c.reason);

      const warned: BadInput[] = [];
      const source = await readFolders(spec('skip'), (b) => warned.push(b));
      expect(source.skipped).toHaveLength(1);
      expect(source.skipped[0]!.file).toBe(c.path());
      expect(source.skipped[0]!.reason).toMatch(c.reason);
      expect(warned).toEqual(source.skipped);
      expect([source.train.count, source.test.count]).toEqual([c.train, 2]);
      expect(source.classes).toBe(c.classes ?? 3);
    });
  }

  it('keeps an empty class its index under skip', async () => {
    await standardSet();
    mkdirSync(join(train, 'eel'));
    const source = await readFolders(spec('skip'));
    expect(source.classNames).toEqual(['cat', 'dog', 'eel', 'fish']);
    expect([...source.train.labels]).toEqual([0, 0, 1, 1, 3]);
  });

  it('reports images that did not decode again on a cache hit; stop then throws', async () => {
    await standardSet();
    writeFileSync(join(train, 'cat', 'text.jpg'), 'not a JPEG');
    const first = await readFolders(spec('skip'));
    const warned: BadInput[] = [];
    const second = await readFolders(spec('skip'), (b) => warned.push(b));
    expect(second.decoded).toBe(0);
    expect(second.cacheDir).toBe(first.cacheDir);
    expect(second.skipped).toEqual(first.skipped);
    expect(warned).toEqual(first.skipped);
    expect((await dataError(readFolders(spec('stop')))).file).toBe(join(train, 'cat', 'text.jpg'));
  });

  it('leaves no cache behind when a decode failure stops the run', async () => {
    await standardSet();
    writeFileSync(join(train, 'cat', 'text.jpg'), 'not a JPEG');
    await dataError(readFolders(spec('stop')));
    expect(readdirSync(cache)).toEqual([]);
  });

  it('names the root when it is missing or has no class folders, even under skip', async () => {
    expect((await dataError(readFolders(spec('skip')))).file).toBe(train);
    mkdirSync(train);
    writeFileSync(join(train, 'a.jpg'), 'x');
    const err = await dataError(readFolders(spec('skip')));
    expect(err.file).toBe(train);
    expect(err.reason).toMatch(/^no class folders/);
    await image(join(train, 'cat', 'c.png'), 16, 16, () => RED);
    expect((await dataError(readFolders(spec('skip')))).file).toBe(val);
  });
});
