/**
 * Real on-disk formats through the CLI as users run it: JPEG and PNG class folders and CIFAR-10 binary
 * batches, written here; a 2-tower run trains on each with the paper's augmentation and reports top-1 and
 * top-5 error (10-crop). Bad inputs give a message naming the file, never a stack trace, under `on_bad: stop`,
 * and are counted and left out under `skip`.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { normalAt } from '@alexnet/core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, runCli } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'alexnet-data-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Six colours far apart: the classes. */
const PALETTE = [
  [220, 40, 40],
  [40, 200, 60],
  [40, 60, 220],
  [230, 210, 40],
  [200, 50, 210],
  [40, 210, 210],
];
const CLASSES = ['tulip', 'daisy', 'iris', 'crocus', 'pansy', 'bluebell'];

/** Image n of class k: its colour with noise and a darker square at a varying place, w×h RGB. */
function pixels(k: number, n: number, w: number, h: number): Buffer {
  const out = Buffer.alloc(w * h * 3);
  const sx = (n * 7) % (w - 6);
  const sy = (n * 5) % (h - 6);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const square = x >= sx && x < sx + 6 && y >= sy && y < sy + 6 ? 0.6 : 1;
      for (let c = 0; c < 3; c++) out[(y * w + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(PALETTE[k]![c]! * square + 25 * normalAt(k, n, (y * w + x) * 3 + c))));
    }
  }
  return out;
}

const yaml = (data: string, extra = ''): string => `${readFileSync(fixture('images.yaml'), 'utf8')}${data}\n${extra}`;

/** train/<class>/*.jpg|png and val/<class>/*: 12 training and 4 validation images a class, sizes varying. */
async function writeFolders(root: string): Promise<void> {
  for (const [split, count] of [
    ['train', 12],
    ['val', 4],
  ] as const) {
    for (const [k, name] of CLASSES.entries()) {
      mkdirSync(join(root, split, name), { recursive: true });
      for (let n = 0; n < count; n++) {
        const [w, h] = n % 3 === 0 ? [30, 22] : n % 3 === 1 ? [22, 28] : [24, 24];
        const img = sharp(pixels(k, n + (split === 'val' ? 100 : 0), w, h), { raw: { width: w, height: h, channels: 3 } });
        const file = join(root, split, name, `${name}_${n}`);
        if (n % 2 === 0) await img.jpeg({ quality: 95 }).toFile(`${file}.jpg`);
        else await img.png().toFile(`${file}.png`);
      }
    }
  }
}

/** data_batch_1.bin, data_batch_2.bin, test_batch.bin: records of 1 label byte + 32×32 R, G, B planes. */
function writeCifar(root: string, labelOf: (i: number) => number = (i) => i % 6): void {
  mkdirSync(root, { recursive: true });
  const file = (name: string, count: number, from: number): void => {
    const buf = Buffer.alloc(count * 3073);
    for (let i = 0; i < count; i++) {
      const k = labelOf(from + i);
      const hwc = pixels(k % 6, from + i, 32, 32);
      buf[i * 3073] = k;
      for (let p = 0; p < 1024; p++) for (let c = 0; c < 3; c++) buf[i * 3073 + 1 + c * 1024 + p] = hwc[p * 3 + c]!;
    }
    writeFileSync(join(root, name), buf);
  };
  file('data_batch_1.bin', 48, 0);
  file('data_batch_2.bin', 48, 48);
  file('test_batch.bin', 24, 1000);
}

interface Result {
  top1_error: number;
  top5_error: number;
  crops: number;
  towers: number;
  data: { skipped: number; train: number; test: number };
}

async function train(config: string, args: string[] = []): Promise<{ code: number | null; stderr: string; result?: Result }> {
  const r = await runCli(['--config', config, '--gpus', '0,1', '--backend', 'wasm', '--json', '--out', mkdtempSync(join(dir, 'run-')), ...args]);
  return { code: r.code, stderr: r.stderr, ...(r.code === 0 ? { result: JSON.parse(r.stdout) as Result } : {}) };
}

const augment = `  augment: { crop: true, flip: true, lighting: 0.1 }\n  normalize: { mean: image, std: true }`;

describe('image folders (JPEG and PNG)', () => {
  const root = join(dir, 'flowers');
  const config = join(dir, 'folders.yaml');
  beforeAll(async () => {
    await writeFolders(root);
    writeFileSync(
      config,
      yaml(`data:\n  dataset: folders\n  train: ${root}/train\n  val: ${root}/val\n  size: 20\n  cache: ${dir}/cache\n${augment}`, 'eval: { crops: 10, every: 2 }'),
    );
  });

  it('a 2-tower run trains with crops, flips and lighting and reports 10-crop top-1 and top-5', async () => {
    const { code, stderr, result } = await train(config, ['--steps', '36']);
    expect(code, stderr).toBe(0);
    expect(result).toMatchObject({ towers: 2, crops: 10, data: { train: 72, test: 24, skipped: 0 } });
    // six classes: chance is 83% top-1 error; the colours are easy
    expect(result!.top1_error).toBeLessThan(0.4);
    expect(result!.top5_error).toBeLessThanOrEqual(result!.top1_error);
    expect(stderr).toMatch(/eval at step 8: top-1 error/); // every 2 epochs of 4 steps (72 images, batch 16)
  });

  it('--data overrides the roots; a corrupt image stops the run with its name, or is skipped and counted', async () => {
    const bad = join(dir, 'bad');
    await writeFolders(bad);
    writeFileSync(join(bad, 'train', 'iris', 'iris_99.jpg'), 'this is not a JPEG');
    const stop = await train(config, ['--steps', '2', '--data', bad]);
    expect(stop.code).toBe(1);
    expect(stop.stderr).toMatch(new RegExp(`coordinator: ${bad}/train/iris/iris_99\\.jpg: cannot decode`));
    expect(stop.stderr).not.toMatch(/at .*\.js:\d+/);
    const skipConfig = join(dir, 'skip.yaml');
    writeFileSync(skipConfig, readFileSync(config, 'utf8').replace('  size: 20', '  size: 20\n  on_bad: skip'));
    const skip = await train(skipConfig, ['--steps', '2', '--data', bad]);
    expect(skip.code, skip.stderr).toBe(0);
    expect(skip.result!.data).toMatchObject({ train: 72, skipped: 1 });
    expect(skip.stderr).toMatch(/iris_99\.jpg: cannot decode/);
  });

  it('an empty class folder is named', async () => {
    const empty = join(dir, 'empty');
    await writeFolders(empty);
    rmSync(join(empty, 'train', 'daisy'), { recursive: true });
    mkdirSync(join(empty, 'train', 'daisy'));
    const r = await train(config, ['--steps', '2', '--data', empty]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`coordinator: ${empty}/train/daisy: empty class folder`));
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
  });
});

describe('CIFAR-10 binary batches', () => {
  const root = join(dir, 'cifar');
  const config = join(dir, 'cifar.yaml');
  beforeAll(() => {
    writeCifar(root);
    // CIFAR-10 has 10 classes; these files use 6 of them, and the test net has 6 outputs
    writeFileSync(
      config,
      yaml(`data:\n  dataset: cifar10\n  root: ${root}\n${augment}`, 'eval: { crops: 10 }').replace('classes: 6', 'classes: 10').replace('units: 6', 'units: 10'),
    );
  });

  it('a 2-tower run trains on 32×32 images cropped to 16×16 and reports 10-crop top-1 and top-5', async () => {
    const { code, stderr, result } = await train(config, ['--steps', '36']);
    expect(code, stderr).toBe(0);
    expect(result).toMatchObject({ towers: 2, crops: 10, data: { train: 96, test: 24, skipped: 0 } });
    expect(result!.top1_error).toBeLessThan(0.5);
    expect(result!.top5_error).toBeLessThanOrEqual(result!.top1_error);
  });

  it('a truncated file and a label out of range are named, with no stack trace', async () => {
    const cut = join(dir, 'cifar-cut');
    writeCifar(cut);
    const bytes = readFileSync(join(cut, 'data_batch_2.bin'));
    writeFileSync(join(cut, 'data_batch_2.bin'), bytes.subarray(0, 10 * 3073 + 100));
    const r = await train(config, ['--steps', '2', '--data', cut]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`coordinator: ${cut}/data_batch_2\\.bin: truncated`));
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
    const label = join(dir, 'cifar-label');
    writeCifar(label, (i) => (i === 17 ? 12 : i % 6));
    const l = await train(config, ['--steps', '2', '--data', label]);
    expect(l.code).toBe(1);
    expect(l.stderr).toMatch(new RegExp(`coordinator: ${label}/data_batch_1\\.bin: record 17: label 12`));
    expect(l.stderr).not.toMatch(/at .*\.js:\d+/);
  });
});
