/**
 * The main job: the split run, optionally the single-tower baseline on the same config and seed, and the
 * comparison. Bad configs are refused here, before any tower process starts.
 */
import { appendFileSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { pino } from 'pino';
import { type BackendChoice, buildNet, type Config, ConfigError, loadConfig, parseConfig, planSplit } from '@alexnet/core';
import { readCheckpoint } from './checkpoint.js';
import { openData } from './data/index.js';
import { makeLogger } from './log.js';
import type { Session } from './session.js';
import { Progress } from './progress.js';
import { writeReport } from './report/index.js';
import { type RunResult, stepsFor, type Tick, train } from './train.js';

export interface MainOptions {
  config: string;
  gpus?: string[];
  steps?: number;
  epochs?: number;
  seed?: number;
  batch?: number;
  out?: string;
  baseline?: boolean;
  json?: boolean;
  backend: BackendChoice;
  verbose?: boolean;
  /** Warnings and errors only; no progress bars. */
  quiet?: boolean;
  /** Also run this config's net (the paper's half-kernel one-GPU net) on one tower, with this run's training and data settings. */
  halfBaseline?: string;
  /** Write `<out>/checkpoint.bin` every this many steps (and at the end). Needs --out. */
  checkpointEvery?: number;
  /** Continue the run whose checkpoint is in this directory. */
  resume?: string;
  /** The dataset root, overriding the config's. */
  data?: string;
}

export interface MainResult extends Omit<RunResult, 'run'> {
  /** The data set: its name, images in each split, bad inputs skipped. */
  data: { name: string; train: number; test: number; skipped: number };
  baseline?: Omit<RunResult, 'run'> & { speedup: number };
  /** With --half-baseline: that net on one tower. */
  half?: Omit<RunResult, 'run'> & { net: string; speedup: number };
}

/** The config file with the command line's overrides applied, validated again as a whole. */
export function resolveConfig(o: Pick<MainOptions, 'config' | 'seed' | 'batch'>): Config {
  const c = loadConfig(o.config);
  return parseConfig({ ...c, train: { ...c.train, ...(o.seed !== undefined ? { seed: o.seed } : {}), ...(o.batch ? { batch: o.batch } : {}) } });
}

const writeAtomic = (path: string, text: string): void => {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
};

/** `runs/<date>-<time>-<config file name>`, the default run directory, created (`-2`, `-3`… if taken). */
export function makeRunDir(configFile: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/\.\d+Z$/, '').replace(/[-:]/g, '').replace('T', '-');
  const base = join('runs', `${stamp}-${basename(configFile).replace(/\.ya?ml$/i, '')}`);
  mkdirSync('runs', { recursive: true });
  for (let n = 1; ; n++) {
    const dir = n === 1 ? base : `${base}-${n}`;
    try {
      mkdirSync(dir);
      return dir;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

export async function runMain(o: MainOptions): Promise<number> {
  const config = resolveConfig(o);
  const devices = o.gpus ?? Array.from({ length: config.net.groups }, (_, i) => String(i));
  // Refuse what cannot run before any process starts.
  const net = buildNet(config.net);
  planSplit(net, devices.length);
  if (o.baseline) planSplit(net, 1);
  // The paper's other baseline: another net (half the kernels, one column) with this run's recipe and data.
  const half = o.halfBaseline ? parseConfig({ ...config, net: loadConfig(o.halfBaseline).net }) : undefined;
  if (half) {
    const h = buildNet(half.net);
    planSplit(h, 1);
    if (h.inputShape.join('×') !== net.inputShape.join('×') || half.net.classes !== config.net.classes) {
      throw new ConfigError('--half-baseline', `${o.halfBaseline}'s net takes ${h.inputShape.join('×')} images and ${half.net.classes} classes; this run's ${net.inputShape.join('×')} and ${config.net.classes}`);
    }
  }
  const resume = o.resume ? readCheckpoint(o.resume) : undefined;
  if (resume && JSON.stringify(resume.config.net) !== JSON.stringify(config.net)) {
    throw new ConfigError('--resume', `${o.resume} holds a checkpoint of a different net (net "${resume.config.net.name}"); resume with the config it was made with`);
  }
  // What the rest of the run depends on besides the weights: the data order and augmentation (seed), the
  // batches (batch size). A different value would silently give another run than the one stopped.
  for (const field of ['seed', 'batch'] as const) {
    if (resume && resume.config.train[field] !== config.train[field]) {
      throw new ConfigError(`train.${field}`, `${o.resume} was made with ${field} ${resume.config.train[field]}, this run has ${config.train[field]}; resume with the same value`);
    }
  }
  const out = o.out ?? makeRunDir(o.config);
  mkdirSync(out, { recursive: true });
  // On a terminal: progress bars, with log lines printed above them; else (or --json, --quiet) JSON lines.
  const progress = !o.json && !o.quiet && process.stderr.isTTY ? new Progress(config.train.batch) : undefined;
  const logFile = join(out, 'log.jsonl');
  const log = makeLogger({ json: o.json, verbose: o.verbose, quiet: o.quiet, file: logFile, terminal: progress?.lines });
  // The per-window step lines: the bars show them on a terminal, so there they go to the log file only.
  const stepLog = progress ? pino({ base: undefined }, pino.destination({ dest: logFile, sync: true, append: true })) : log;
  const data = await openData(config, {
    ...(o.data ? { root: o.data } : {}),
    warn: (bad) => log.warn(bad, `skipped ${bad.file}: ${bad.reason}`),
    log: (msg) => log.info(msg),
  });
  const { source } = data;
  if (source.skipped.length > 0) log.warn({ skipped: source.skipped.length }, `${source.skipped.length} bad input(s) skipped (data.on_bad: skip)`);
  const steps = stepsFor(config, source.train.count, o.steps, o.epochs);
  const gpu = o.backend === 'auto' || o.backend === 'tensorflow';
  writeAtomic(join(out, 'config.resolved.json'), `${JSON.stringify(config, null, 2)}\n`);
  const onStep = (m: object): void => appendFileSync(join(out, 'metrics.jsonl'), `${JSON.stringify(m)}\n`);
  const onEval = onStep;
  const onTick = progress ? (t: Tick) => progress.tick(t) : undefined;
  let told = false;
  const onReady = (s: Session): void => {
    if (told) return;
    told = true;
    const cpu = s.readies.filter((r) => !r.gpu);
    if (gpu && cpu.length > 0) {
      const r = cpu[0]!;
      process.stderr.write(`No GPU: ${r.fallback ?? 'no GPU backend loaded'}. Training on CPU with ${r.device}, one tower process per listed id (${devices.join(', ')}).\n`);
    }
  };
  log.info({ config: o.config, out, towers: devices.length, steps, batch: config.train.batch, dataset: source.name, train: source.train.count, test: source.test.count, skipped: source.skipped.length }, 'starting');
  if (resume && resume.step >= steps) throw new ConfigError('--steps', `the checkpoint is at step ${resume.step} already; ask for more steps than that`);
  // Checkpoints: every --checkpoint-every steps, and always at the end (the baseline's in baseline/).
  const every = o.checkpointEvery ?? Number.POSITIVE_INFINITY;
  const common = { config, data, backend: o.backend, gpu, steps, log, stepLog, onStep, onEval, onTick, onReady, ...(resume ? { resume } : {}) };
  let split: RunResult;
  let base: RunResult | undefined;
  let halfRun: RunResult | undefined;
  try {
    split = await train({ ...common, devices, run: 'split', checkpoint: { dir: out, every } });
    if (o.baseline) base = await train({ ...common, devices: [devices[0]!], run: 'baseline', checkpoint: { dir: join(out, 'baseline'), every } });
    if (half) halfRun = await train({ ...common, config: half, resume: undefined, devices: [devices[0]!], run: 'half', checkpoint: { dir: join(out, 'half'), every } });
  } finally {
    progress?.stop();
  }
  const strip = ({ run: _run, ...r }: RunResult) => r;
  const result: MainResult = { ...strip(split), data: { name: source.name, train: source.train.count, test: source.test.count, skipped: source.skipped.length }, ...(base ? { baseline: { ...strip(base), speedup: split.images_per_sec / base.images_per_sec } } : {}), ...(halfRun ? { half: { ...strip(halfRun), net: half!.net.name, speedup: split.images_per_sec / halfRun.images_per_sec } } : {}) };
  writeAtomic(join(out, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
  const report = await writeReport(out);
  log.info({ out, report }, `run directory: ${out} (open ${report})`);
  process.stdout.write(o.json ? `${JSON.stringify(result)}\n` : formatResult(split, base, halfRun));
  return 0;
}

function formatResult(split: RunResult, base?: RunResult, half?: RunResult): string {
  const row = (r: RunResult): string =>
    `${r.run.padEnd(9)} ${String(r.towers).padStart(2)} tower${r.towers > 1 ? 's' : ' '}  ${r.steps} steps of ${r.batch}  ${r.images_per_sec.toFixed(1).padStart(8)} images/s  final loss ${r.final_loss.toFixed(4)}  top-1 error ${(r.top1_error * 100).toFixed(2)}%  top-5 error ${(r.top5_error * 100).toFixed(2)}%${r.crops > 1 ? ` (${r.crops} crops)` : ''}  (${r.device})`;
  const lines = [row(split)];
  if (base) {
    lines.push(row(base));
    lines.push(`speedup (split / single-tower images/s): ${(split.images_per_sec / base.images_per_sec).toFixed(2)}×`);
  }
  if (half) lines.push(row(half), `split / half-kernel images/s: ${(split.images_per_sec / half.images_per_sec).toFixed(2)}×`);
  return `${lines.join('\n')}\n`;
}
