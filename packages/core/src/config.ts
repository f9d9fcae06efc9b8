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
    iss.code === 'invalid_union'
      ? `unknown layer kind ${JSON.stringify((iss.input as { kind?: unknown } | undefined)?.kind)}; allowed: ${LAYER_KINDS.join(', ')}`
      : undefined,
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

export const trainSchema = z.strictObject({
  batch: positiveInt.default(128),
  epochs: positiveInt.optional(),
  steps: positiveInt.optional(),
  seed: z.int().nonnegative().default(1),
  optimizer: sgd.default({ kind: 'sgd', lr: 0.01, momentum: 0.9, weight_decay: 0.0005 }),
  /** Paper: N(0, 0.01). `he`: N(0, 2/fan_in), trains small nets from scratch faster. */
  init: z
    .discriminatedUnion('kind', [
      z.strictObject({ kind: z.literal('normal'), std: z.number().positive().default(0.01) }),
      z.strictObject({ kind: z.literal('he') }),
    ])
    .default({ kind: 'normal', std: 0.01 }),
  /**
   * Split each batch into this many micro-batches and pipeline them: while one micro-batch's activations or
   * gradients are exchanged, the towers compute the next. Gradients add up; one optimizer step per batch.
   */
  micro_batches: positiveInt.default(1),
  /** Log every this many steps. */
  log_every: positiveInt.default(20),
});

const mnist = z.strictObject({
  dataset: z.literal('mnist'),
  /** The `mnist` package ships 10,000 digits; they are split into disjoint train and test sets. */
  train: positiveInt.default(8000),
  test: positiveInt.default(2000),
});
const synthetic = z.strictObject({
  dataset: z.literal('synthetic'),
  train: positiveInt.default(256),
  test: positiveInt.default(64),
});

export const configSchema = z.strictObject({
  net: netSchema,
  train: trainSchema.default(trainSchema.parse({})),
  data: z.discriminatedUnion('dataset', [mnist, synthetic]).default({ dataset: 'synthetic', train: 256, test: 64 }),
});

export type Config = z.infer<typeof configSchema>;
export type NetSpec = z.infer<typeof netSchema>;
export type TrainSpec = z.infer<typeof trainSchema>;
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
