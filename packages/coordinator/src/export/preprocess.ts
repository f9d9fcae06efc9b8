/**
 * How an image file becomes the net's input, exactly as evaluation made it from the data set: written
 * beside an export (`preprocess.json`, and the mean in `mean.bin`) so `predict` needs nothing else.
 *
 * The steps, in order: decode as the `folders` reader decodes (EXIF orientation applied, transparency
 * flattened onto black, RGB, or grey for 1-channel nets), short side resized to the stored size and the
 * centre square kept; each value times `pixelScale` (1/255 when the data set stores values in [0, 1], as
 * the mnist reader does; 1 for uint8 stores); the centre crop of the net's input size; minus `mean` (per
 * stored position and channel, [H × W × C] float32 little-endian: the mean image, or the mean pixel
 * repeated, or zeros); times `scale` (per channel: 1 / std, or 1). The last two steps are data/transform.ts's
 * `render`, called here with the same spec fields, so prediction cannot drift from evaluation.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AlexnetError, centreView, DataError, render, type TransformSpec } from '@alexnet/core';
import { decodeImage } from '../data/folders.js';
import type { Data } from '../data/index.js';

export const PREPROCESS_FILE = 'preprocess.json';
export const MEAN_FILE = 'mean.bin';
const FORMAT = 'alexnet-towers-preprocess';

export interface Preprocess {
  /** Stored image [H, W, C]: an image is decoded to this (short side to H, centre square). */
  stored: [number, number, number];
  /** The net's input [h, w, C], cut from the centre of the stored image. */
  input: [number, number, number];
  /** Multiplies the decoded 0–255 values: 1/255 for data sets stored as values in [0, 1], 1 for uint8 stores. */
  pixelScale: number;
  /** Subtracted per stored position and channel: [H × W × C]. */
  mean: Float32Array;
  /** Multiplies per channel after the mean is subtracted. */
  scale: number[];
  classNames: string[];
}

interface PreprocessJson extends Omit<Preprocess, 'mean'> {
  format: string;
  version: number;
  mean: { file: string; dtype: 'float32'; byteOrder: 'little-endian'; shape: number[] };
  steps: string;
}

const STEPS =
  'decode (EXIF orientation, alpha flattened onto black; RGB, or grey when C = 1), short side resized to stored[0], centre square; ' +
  'each value × pixelScale; centre crop of input[0] × input[1]; minus mean (per stored position and channel); × scale (per channel)';

/** The preprocessing evaluation applied to `data`'s test set (the centre crop; no augmentation). */
export function preprocessOf(data: Data): Preprocess {
  const { spec, source } = data;
  return {
    stored: [spec.stored[0], spec.stored[1], spec.stored[2]],
    input: [spec.out[0], spec.out[1], spec.out[2]],
    pixelScale: spec.dtype === 'uint8' ? 1 : 1 / 255,
    mean: spec.mean,
    scale: [...spec.scale],
    classNames: [...source.classNames],
  };
}

/** Writes preprocess.json and mean.bin into `dir`; returns their paths. */
export function writePreprocess(dir: string, p: Preprocess): string[] {
  const files = [join(dir, PREPROCESS_FILE), join(dir, MEAN_FILE)];
  const { mean, ...rest } = p;
  const json: PreprocessJson = { format: FORMAT, version: 1, ...rest, mean: { file: MEAN_FILE, dtype: 'float32', byteOrder: 'little-endian', shape: [...p.stored] }, steps: STEPS };
  writeFileSync(files[0]!, `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(files[1]!, Buffer.from(mean.buffer, mean.byteOffset, mean.byteLength));
  return files;
}

export function readPreprocess(dir: string): Preprocess {
  const file = join(dir, PREPROCESS_FILE);
  let json: PreprocessJson;
  try {
    json = JSON.parse(
      read(file, 'missing: the model was exported without its data set, so how images were normalised is unknown; export again where the data set is readable').toString('utf8'),
    ) as PreprocessJson;
  } catch (e) {
    throw e instanceof DataError ? e : new DataError(file, `not valid JSON: ${(e as Error).message}`);
  }
  if (json.format !== FORMAT || json.version !== 1)
    throw new DataError(file, `not an alexnet-towers preprocess file (format ${JSON.stringify(json.format)}, version ${json.version})`);
  const meanFile = join(dir, json.mean.file);
  const bytes = read(meanFile, `missing: ${PREPROCESS_FILE} names it as the mean`);
  const want = json.stored.reduce((a, b) => a * b, 1) * 4;
  if (bytes.length !== want) throw new DataError(meanFile, `${bytes.length} bytes; the stored shape [${json.stored.join(', ')}] needs ${want}`);
  const mean = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  return { stored: json.stored, input: json.input, pixelScale: json.pixelScale, mean, scale: json.scale, classNames: json.classNames };
}

/** The file's bytes; a missing or unreadable file is a DataError naming it. */
function read(file: string, ifMissing: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new DataError(file, err.code === 'ENOENT' ? ifMissing : `cannot read: ${err.message}`);
  }
}

/** The evaluation transform (centre crop, no augmentation) the preprocessing describes. */
function transformSpec(p: Preprocess): TransformSpec {
  return {
    stored: p.stored,
    out: p.input,
    dtype: p.pixelScale === 1 ? 'uint8' : 'float32',
    crop: false,
    flip: false,
    lighting: 0,
    mean: p.mean,
    scale: Float32Array.from(p.scale),
    unit: 1,
    seed: 0,
  };
}

/**
 * Decodes `files` and renders them as one batch of net inputs [n, h, w, C]. An unreadable file or one that
 * is not an image: a DataError naming it.
 */
export async function imageBatch(p: Preprocess, files: readonly string[]): Promise<Float32Array> {
  const [H, W, C] = p.stored;
  if (H !== W) throw new AlexnetError('E_PREDICT', `images are decoded to squares; this model's stored images are ${H}×${W}`);
  if (C !== 1 && C !== 3) throw new AlexnetError('E_PREDICT', `images decode to 1 (grey) or 3 (RGB) channels; this model takes ${C}`);
  const spec = transformSpec(p);
  const size = p.input[0] * p.input[1] * p.input[2];
  const out = new Float32Array(files.length * size);
  const decoded = await Promise.all(files.map((f) => decodeImage(f, H, C)));
  decoded.forEach((d, i) => {
    if ('error' in d) throw new DataError(files[i]!, d.error);
    const record = p.pixelScale === 1 ? new Uint8Array(d.pixels) : Float32Array.from(d.pixels, (v) => v * p.pixelScale);
    render(spec, record, centreView(spec), out, i * size);
  });
  return out;
}
