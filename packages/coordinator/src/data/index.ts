/**
 * The data a config names, ready to feed: the source's stored records, the training set's statistics, and
 * the transform from a stored record to the net's input. Checked against the net before any tower starts.
 */
import { existsSync } from 'node:fs';
import { AlexnetError, type BadInput, type Config, ConfigError, DataError, RecordReader, renderBatch, type Source, type TransformSpec, type ViewMode } from '@alexnet/core';
import { readCifar10 } from './cifar.js';
import { readFolders } from './folders.js';
import { readMnist } from './mnist.js';
import { type Stats, trainingStats } from './stats.js';
import { readSynthetic } from './synthetic.js';

export {
  type BadInput,
  BadInputs,
  centreView,
  Loader,
  lightingShift,
  memoryStore,
  Prefetch,
  RecordReader,
  render,
  renderBatch,
  type Source,
  type Store,
  type TransformSpec,
  tenViews,
  trainView,
  type View,
  type ViewMode,
  viewsPer,
} from '@alexnet/core';
export { computeStats, eigen, type Stats, trainingStats } from './stats.js';

export interface Data {
  source: Source;
  stats: Stats;
  spec: TransformSpec;
}

export interface OpenOptions {
  /** `--data PATH`: the dataset root, overriding the config's (folders: PATH/train and PATH/val). */
  root?: string;
  warn?: (bad: BadInput) => void;
  log?: (msg: string) => void;
}

async function readSource(config: Config, o: OpenOptions): Promise<Source> {
  const { net, data } = config;
  switch (data.dataset) {
    case 'mnist':
    case 'synthetic':
      if (o.root) throw new ConfigError('--data', `the ${data.dataset} data set has no root on disk; --data applies to folders and cifar10`);
      if (data.dataset === 'mnist') return readMnist(data.train, data.test);
      return readSynthetic(data.size ? [data.size, data.size, net.input.channels] : [net.input.height, net.input.width, net.input.channels], net.classes, data.train, data.test);
    case 'cifar10':
      if (!o.root && !existsSync(data.root))
        throw new ConfigError('data.root', `${data.root} does not exist: point data.root at the directory of CIFAR-10's .bin files, or give --data PATH`);
      return readCifar10({ root: o.root ?? data.root, on_bad: data.on_bad }, o.warn);
    case 'folders': {
      const roots = o.root ? { train: `${o.root}/train`, val: `${o.root}/val` } : { train: data.train, val: data.val };
      if (!o.root && !existsSync(data.train))
        throw new ConfigError('data.train', `${data.train} does not exist: point data.train and data.val at your copy, or give --data PATH (reads PATH/train and PATH/val)`);
      return readFolders({ ...roots, size: data.size, cache: data.cache, on_bad: data.on_bad }, o.warn, o.log);
    }
  }
}

/** A file-system error (unreadable folder, full disk, read-only cache directory...) as a message naming the path. */
function fsError(e: unknown): unknown {
  const err = e as NodeJS.ErrnoException;
  if (e instanceof AlexnetError || typeof err?.code !== 'string' || typeof err.path !== 'string') return e;
  return new DataError(err.path, `${err.code}: ${err.message.replace(/^[A-Z]+: /, '')}`);
}

export async function openData(config: Config, o: OpenOptions = {}): Promise<Data> {
  try {
    return await open(config, o);
  } catch (e) {
    throw fsError(e);
  }
}

async function open(config: Config, o: OpenOptions): Promise<Data> {
  const { net, data } = config;
  const source = await readSource(config, o);
  const [H, W, C] = source.train.shape;
  const input = [net.input.height, net.input.width, net.input.channels] as const;
  if (C !== input[2]) throw new ConfigError('net.input.channels', `${source.name} images have ${C} channels, the net takes ${input[2]}`);
  if (H < input[0] || W < input[1]) throw new ConfigError('net.input', `${source.name} images are stored at ${H}×${W}, smaller than the net's ${input[0]}×${input[1]} input`);
  if (source.classes !== net.classes) throw new ConfigError('net.classes', `${source.name} has ${source.classes} classes, the net ${net.classes}`);
  if (data.augment.lighting > 0 && C !== 3) throw new ConfigError('data.augment.lighting', `lighting noise is PCA over RGB; these images have ${C} channel(s); allowed: 0`);
  for (const [split, s] of [
    ['training', source.train],
    ['validation', source.test],
  ] as const) {
    if (s.count === 0) throw new ConfigError('data', `${source.name} has no ${split} images`);
  }
  const limit = data.dataset === 'folders' ? data.stats_images : source.train.count;
  const stats = trainingStats(source.train, limit, source.cacheDir);
  const size = H * W * C;
  const mean = new Float32Array(size);
  if (data.normalize.mean === 'image') mean.set(stats.meanImage);
  else if (data.normalize.mean === 'pixel') for (let p = 0; p < size; p++) mean[p] = stats.mean[p % C]!;
  const scale = Float32Array.from(stats.std, (s) => (data.normalize.std && s > 0 ? 1 / s : 1));
  const spec: TransformSpec = {
    stored: [H, W, C],
    out: input,
    dtype: source.train.dtype,
    crop: data.augment.crop,
    flip: data.augment.flip,
    lighting: data.augment.lighting,
    mean,
    scale,
    ...(stats.eigen ? { eigen: stats.eigen } : {}),
    unit: source.train.dtype === 'uint8' ? 255 : 1,
    seed: config.train.seed,
  };
  return { source, stats, spec };
}

/** Images and labels of `indices`, rendered in this thread (tests and tools; training uses the Loader). */
export function readBatch(data: Data, split: 'train' | 'test', indices: ArrayLike<number>, mode: ViewMode = 'centre', keyBase = 0): { images: Float32Array; labels: Int32Array } {
  const store = split === 'train' ? data.source.train : data.source.test;
  const reader = new RecordReader(store);
  try {
    return { images: renderBatch(reader, data.spec, indices, mode, keyBase), labels: Int32Array.from(indices, (i) => store.labels[i]!) };
  } finally {
    reader.close();
  }
}
