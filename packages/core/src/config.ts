/**
 * The config schema: typed defaults in one place, unknown keys are errors, every error names its field
 * and what is allowed. A config file is YAML with three parts: `net` (the layer table), `train`, `data`.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { ConfigError } from './errors.js';

const positiveInt = z.int().positive();
/** `own`: the layer reads only its own tower's maps (a grouped layer); `all`: it reads every tower's maps. */
const reads = z.enum(['own', 'all']);

const conv = z.strictObject({
  kind: z.literal('conv'),
  name: z.string().optional(),
  filters: positiveInt,
  size: positiveInt,
  stride: positiveInt.default(1),
  pad: z.int().nonnegative().default(0),
  reads: reads.default('all'),
  bias_init: z.number().default(0),
  /** Standard deviation of this layer's initial weights, overriding train.init (cuda-convnet's initW). */
  init_std: z.number().positive().optional(),
});
const dense = z.strictObject({
  kind: z.literal('dense'),
  name: z.string().optional(),
  units: positiveInt,
  reads: reads.default('all'),
  /**
   * How a `reads: all` dense layer is split across towers: `column` (each tower computes some units from the
   * whole input, gathered), `row` (each tower multiplies its own input shard by its rows of W; the partial
   * sums are added), or `auto`: whichever moves fewer bytes, i.e. row when units < input units.
   */
  split: z.enum(['auto', 'column', 'row']).default('auto'),
  bias_init: z.number().default(0),
  init_std: z.number().positive().optional(),
});
const relu = z.strictObject({ kind: z.literal('relu'), name: z.string().optional() });
const lrn = z.strictObject({
  kind: z.literal('lrn'),
  name: z.string().optional(),
  /** Number of adjacent maps summed over (the paper's n); odd. */
  size: positiveInt.default(5).refine((n) => n % 2 === 1, 'must be odd (the window is centred on a map)'),
  k: z.number().default(2),
  /** Per squared term, as in the paper (cuda-convnet's `scale` is this times `size`). */
  alpha: z.number().nonnegative().default(1e-4),
  beta: z.number().nonnegative().default(0.75),
  reads: reads.default('all'),
});
const maxpool = z.strictObject({
  kind: z.literal('maxpool'),
  name: z.string().optional(),
  size: positiveInt,
  stride: positiveInt,
});
const flatten = z.strictObject({ kind: z.literal('flatten'), name: z.string().optional() });
const dropout = z.strictObject({
  kind: z.literal('dropout'),
  name: z.string().optional(),
  rate: z.number().min(0).lt(1),
});
const softmax = z.strictObject({ kind: z.literal('softmax'), name: z.string().optional() });

export const LAYER_KINDS = ['conv', 'relu', 'lrn', 'maxpool', 'flatten', 'dense', 'dropout', 'softmax'] as const;

const layer = z.discriminatedUnion('kind', [conv, dense, relu, lrn, maxpool, flatten, dropout, softmax], {
  error: (iss) =>
    iss.code === 'invalid_union' ? `unknown layer kind ${JSON.stringify((iss.input as { kind?: unknown } | undefined)?.kind)}; allowed: ${LAYER_KINDS.join(', ')}` : undefined,
});

export const netSchema = z.strictObject({
  name: z.string().default('net'),
  input: z.strictObject({ height: positiveInt, width: positiveInt, channels: positiveInt }),
  classes: positiveInt,
  /** How many columns the net was designed with (the paper: 2). Layers with `reads: own` are grouped this many ways. */
  groups: positiveInt.default(1),
  layers: z.array(layer).min(1),
});

const sgd = z.strictObject({
  kind: z.literal('sgd'),
  lr: z.number().positive().default(0.01),
  momentum: z.number().min(0).lt(1).default(0.9),
  weight_decay: z.number().nonnegative().default(0.0005),
});
/** Adam (Kingma & Ba), as Keras runs it; the article's network trains with it. Weight decay is L2 added to the gradient. */
const adam = z.strictObject({
  kind: z.literal('adam'),
  lr: z.number().positive().default(0.001),
  beta1: z.number().min(0).lt(1).default(0.9),
  beta2: z.number().min(0).lt(1).default(0.999),
  epsilon: z.number().positive().default(1e-7),
  weight_decay: z.number().nonnegative().default(0),
});
export const OPTIMIZERS = ['sgd', 'adam'] as const;
const optimizer = z.discriminatedUnion('kind', [sgd, adam], {
  error: (iss) =>
    iss.code === 'invalid_union' ? `unknown optimizer ${JSON.stringify((iss.input as { kind?: unknown } | undefined)?.kind)}; allowed: ${OPTIMIZERS.join(', ')}` : undefined,
});

/**
 * How the learning rate moves. `constant`; `step`: times `factor` every `every` epochs; `plateau` (the
 * paper): times `factor` when the validation top-1 error has not improved by `min_delta` for `patience`
 * evaluations, at most `max_drops` times.
 */
export const SCHEDULES = ['constant', 'step', 'plateau'] as const;
const schedule = z.discriminatedUnion(
  'kind',
  [
    z.strictObject({ kind: z.literal('constant') }),
    z.strictObject({ kind: z.literal('step'), every: positiveInt, factor: z.number().positive().lt(1).default(0.1) }),
    z.strictObject({
      kind: z.literal('plateau'),
      factor: z.number().positive().lt(1).default(0.1),
      patience: positiveInt.default(1),
      max_drops: z.int().nonnegative().default(3),
      min_delta: z.number().nonnegative().default(0),
    }),
  ],
  {
    error: (iss) =>
      iss.code === 'invalid_union' ? `unknown schedule ${JSON.stringify((iss.input as { kind?: unknown } | undefined)?.kind)}; allowed: ${SCHEDULES.join(', ')}` : undefined,
  },
);

export const trainSchema = z.strictObject({
  batch: positiveInt.default(128),
  epochs: positiveInt.optional(),
  steps: positiveInt.optional(),
  seed: z.int().nonnegative().default(1),
  optimizer: optimizer.default({ kind: 'sgd', lr: 0.01, momentum: 0.9, weight_decay: 0.0005 }),
  schedule: schedule.default({ kind: 'constant' }),
  /** Paper: N(0, 0.01). `he`: N(0, 2/fan_in), trains small nets from scratch faster. */
  init: z
    .discriminatedUnion('kind', [z.strictObject({ kind: z.literal('normal'), std: z.number().positive().default(0.01) }), z.strictObject({ kind: z.literal('he') })])
    .default({ kind: 'normal', std: 0.01 }),
  /**
   * Split each batch into this many micro-batches and pipeline them: while one micro-batch's activations or
   * gradients are exchanged, the towers compute the next. Gradients add up; one optimizer step per batch.
   */
  micro_batches: positiveInt.default(1),
  /** Log every this many steps. */
  log_every: positiveInt.default(20),
});

/** Settings every data set shares: how bad inputs are handled, the loader threads, augmentation, normalisation. */
const common = {
  /** A corrupt file, an empty class folder, a truncated file, a label out of range: `stop` with an error naming it, or `skip` it, count it and go on. */
  on_bad: z.enum(['stop', 'skip']).default('stop'),
  /** Worker threads assembling batches ahead of training. */
  workers: positiveInt.default(1),
  /** Batches prepared ahead of the one training uses. */
  prefetch: positiveInt.default(3),
  /** Training-time augmentation (the paper's): evaluation always uses centre crops (or 10 crops, see eval). */
  augment: z
    .strictObject({
      /** Random crops of the net's input size from the stored image (else the centre crop). */
      crop: z.boolean().default(false),
      /** Horizontal flips, half the time. */
      flip: z.boolean().default(false),
      /** PCA lighting noise: σ of the αi (the paper: 0.1); 0 turns it off. Needs 3 channels. */
      lighting: z.number().nonnegative().default(0),
    })
    .default({ crop: false, flip: false, lighting: 0 }),
  /** Subtract the training set's mean `image` (the paper), mean `pixel` (per channel), or `none`; then optionally divide by the per-channel std. */
  normalize: z
    .strictObject({
      mean: z.enum(['image', 'pixel', 'none']).default('pixel'),
      std: z.boolean().default(true),
    })
    .default({ mean: 'pixel', std: true }),
};

const mnist = z.strictObject({
  dataset: z.literal('mnist'),
  /** The `mnist` package ships 10,000 digits; they are split into disjoint train and test sets. */
  train: positiveInt.default(8000),
  test: positiveInt.default(2000),
  ...common,
});
const synthetic = z.strictObject({
  dataset: z.literal('synthetic'),
  train: positiveInt.default(256),
  test: positiveInt.default(64),
  /** Stored side of the (square) images; default the net's input. Larger lets augment.crop cut random crops. */
  size: positiveInt.optional(),
  ...common,
});
/** Image folders, `root/<class>/*.jpg|jpeg|png` (ImageNet's and Flowers 17's layout), one root for training and one for validation. */
const folders = z.strictObject({
  dataset: z.literal('folders'),
  train: z.string().min(1),
  val: z.string().min(1),
  /** Stored side: the short side is resized to this, then the centre square is kept (the paper: 256). */
  size: positiveInt.default(256),
  /** Decoded images are kept here, so later runs and epochs never decode a JPEG again. Relative to the working directory. */
  cache: z.string().min(1).default('.cache/alexnet'),
  /** Images used for the mean image and the PCA of the RGB covariance (a fixed, evenly spaced sample). */
  stats_images: positiveInt.default(10000),
  ...common,
});
/** CIFAR-10's binary batches: `data_batch_1.bin` … `data_batch_5.bin` and `test_batch.bin` in `root`. */
const cifar10 = z.strictObject({
  dataset: z.literal('cifar10'),
  root: z.string().min(1),
  ...common,
});
export const DATASETS = ['mnist', 'synthetic', 'folders', 'cifar10'] as const;
const data = z.discriminatedUnion('dataset', [mnist, synthetic, folders, cifar10], {
  error: (iss) =>
    iss.code === 'invalid_union' ? `unknown dataset ${JSON.stringify((iss.input as { dataset?: unknown } | undefined)?.dataset)}; allowed: ${DATASETS.join(', ')}` : undefined,
});

const evalSchema = z.strictObject({
  /** 1: the centre crop; 10: the paper's 4 corners + centre and their flips, softmax averaged. */
  crops: z.union([z.literal(1), z.literal(10)], { error: 'allowed: 1 (centre crop) or 10 (corners, centre and their flips)' }).default(1),
  /** Evaluate on the validation set every this many epochs (and at the end); the plateau schedule watches it. */
  every: positiveInt.default(1),
});

export const configSchema = z.strictObject({
  net: netSchema,
  train: trainSchema.default(trainSchema.parse({})),
  data: data.default(synthetic.parse({ dataset: 'synthetic' })),
  eval: evalSchema.default({ crops: 1, every: 1 }),
});

export type Config = z.infer<typeof configSchema>;
export type NetSpec = z.infer<typeof netSchema>;
export type TrainSpec = z.infer<typeof trainSchema>;
export type DataSpec = z.infer<typeof data>;
export type EvalSpec = z.infer<typeof evalSchema>;
export type OptimizerSpec = z.infer<typeof optimizer>;
export type ScheduleSpec = z.infer<typeof schedule>;
export type LayerSpec = z.infer<typeof layer>;
export type LayerKind = LayerSpec['kind'];

/** `['layers', 4, 'filters']` → `layers[4].filters` */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out || '(root)';
}

/** Validate a parsed config object. Throws ConfigError naming the first bad field (all are listed in the message). */
export function parseConfig(raw: unknown): Config {
  const result = configSchema.safeParse(raw);
  if (result.success) {
    const { batch, micro_batches: micro } = result.data.train;
    if (micro > batch) throw new ConfigError('train.micro_batches', `${micro} micro-batches do not fit a batch of ${batch}; allowed: 1 to ${batch}`);
    return result.data;
  }
  const issues = result.error.issues;
  const first = issues[0]!;
  const lines = issues.map((i) => `${fieldPath(i.path)}: ${i.message}`);
  const err = new ConfigError(fieldPath(first.path), issues.length > 1 ? `${first.message}\n  ${lines.slice(1).join('\n  ')}` : first.message);
  throw err;
}

/** Read a YAML config file and validate it. */
export function loadConfig(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError('--config', `cannot read ${path}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    if (e instanceof YAMLParseError) throw new ConfigError(path, `not valid YAML: ${e.message}`);
    throw e;
  }
  return parseConfig(raw);
}
