/**
 * `coordinator export RUN_DIR` and `coordinator predict --model DIR IMAGE...` as functions returning the
 * text to print (cli.ts parses the options and prints). Export reads the run's checkpoint (the full
 * parameters and the config they were trained with) and reopens the data set for the class names and the
 * preprocessing; without the data set it still exports, without what predict needs, and says so.
 */
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { AlexnetError, type Config, initBackend } from '@alexnet/core';
import { openData } from '../data/index.js';
import { readCheckpoint } from '../run/checkpoint.js';
import { type ExportFormat, exportModel } from './export.js';
import { type Prediction, predict } from './predict.js';
import { type Preprocess, preprocessOf } from './preprocess.js';

export interface ExportCommand {
  /** A run directory holding checkpoint.bin (`--out DIR` of a training run). */
  runDir: string;
  format: ExportFormat;
  out: string;
  /** The data set root the run was given with --data, if any. */
  data?: string;
}

export async function exportCommand(o: ExportCommand): Promise<string> {
  const checkpoint = readCheckpoint(o.runDir);
  const { config } = checkpoint;
  const data = await preprocessFor(config, o.data);
  if (o.format === 'tfjs') await initBackend('auto', false);
  const files = await exportModel(config, checkpoint.tensors, { format: o.format, out: o.out, ...('preprocess' in data ? { preprocess: data.preprocess } : {}) });
  const lines = [
    `exported ${o.runDir} (net ${config.net.name}, step ${checkpoint.step}) as ${o.format} to ${o.out}:`,
    ...files.map((f) => `  ${basename(f)}  ${megabytes(statSync(f).size)}`),
  ];
  if ('missing' in data)
    lines.push(`without preprocessing (the data set did not open: ${data.missing}); predict needs it: export again where the data set is readable (--data PATH)`);
  return lines.join('\n');
}

/** The preprocessing of the run's data set, or why the data set did not open. */
async function preprocessFor(config: Config, root: string | undefined): Promise<{ preprocess: Preprocess } | { missing: string }> {
  try {
    return { preprocess: preprocessOf(await openData(config, root ? { root } : {})) };
  } catch (e) {
    if (e instanceof AlexnetError) return { missing: e.message };
    throw e;
  }
}

const megabytes = (bytes: number): string => (bytes < 1e5 ? `${(bytes / 1e3).toFixed(1)} kB` : `${(bytes / 1e6).toFixed(1)} MB`);

export interface PredictCommand {
  /** A directory written by `export --format tfjs`. */
  model: string;
  images: string[];
  json?: boolean;
  top?: number;
}

export async function predictCommand(o: PredictCommand): Promise<string> {
  await initBackend('auto', false);
  const results = await predict(o.model, o.images, o.top ?? 5);
  return o.json ? JSON.stringify(results, null, 2) : formatPredictions(results);
}

/** Per file: its path, then one line per class: rank, class name, probability. */
export function formatPredictions(results: readonly Prediction[]): string {
  const width = Math.max(5, ...results.flatMap((r) => r.top.map((t) => t.class.length)));
  return results
    .map((r) =>
      [
        r.file,
        `  rank  ${'class'.padEnd(width)}  probability`,
        ...r.top.map((t, i) => `  ${String(i + 1).padStart(4)}  ${t.class.padEnd(width)}  ${t.probability.toFixed(4).padStart(11)}`),
      ].join('\n'),
    )
    .join('\n\n');
}
