/**
 * The main job: the split run, optionally the single-tower baseline on the same config and seed, and the
 * comparison. Bad configs are refused here, before any tower process starts.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { AlexnetError, type BackendChoice, buildNet, type Config, ConfigError, type Header, loadConfig, parseConfig, planSplit } from '@alexnet/core';
import { type Logger, pino } from 'pino';
import { writeAtomic } from '../atomic.js';
import { type Data, openData } from '../data/index.js';
import { writeReport } from '../report/index.js';
import { CHECKPOINT_FILE, type Checkpoint, readCheckpoint } from '../run/checkpoint.js';
import { type RunResult, stepsFor, type Tick, type TrainOptions, train } from '../run/train.js';
import { TowerError } from '../towers/link.js';
import { checkListen, type ListenAddress, type ListenOptions, openListener } from '../towers/listen.js';
import type { Session } from '../towers/session.js';
import { makeLogger } from './log.js';
import { Progress } from './progress.js';

export interface MainOptions extends ListenOptions {
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
  /** Also write `<out>/checkpoint.bin` every this many steps (it is always written at the end). */
  checkpointEvery?: number;
  /** Continue the run whose checkpoint is in this directory. */
  resume?: string;
  /** Continue the run in --out from its checkpoint if it has one, else start it (for jobs that restart themselves). */
  continue?: boolean;
  /** When a tower dies, stop the others, restart them all and resume from the last checkpoint, up to this many times. */
  maxRestarts?: number;
  /** Seconds without a heartbeat after which a tower counts as hung (default 10). */
  heartbeatTimeout?: number;
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

/** `runs/<date>-<time>-<config file name>`, the default run directory, created (`-2`, `-3`… if taken). */
export function makeRunDir(configFile: string, now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/\.\d+Z$/, '')
    .replace(/[-:]/g, '')
    .replace('T', '-');
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

export async function runMain(opts: MainOptions): Promise<number> {
  let o = opts;
  if (o.continue) {
    if (!o.out) throw new ConfigError('--continue', 'needs --out DIR, the run directory to continue or start');
    if (o.resume) throw new ConfigError('--continue', 'give --resume DIR or --continue, not both');
    if (existsSync(join(o.out, CHECKPOINT_FILE))) o = { ...o, resume: o.out };
  }
  const config = resolveConfig(o);
  const devices = o.gpus ?? Array.from({ length: config.net.groups }, (_, i) => String(i));
  // Refuse what cannot run before any process starts.
  const net = buildNet(config.net);
  planSplit(net, devices.length);
  if (o.baseline) planSplit(net, 1);
  const listen = checkListen(o, devices.length);
  if (listen && (o.baseline || o.halfBaseline)) {
    throw new ConfigError(
      o.baseline ? '--baseline' : '--half-baseline',
      'with --listen the towers are on other hosts; run the single-tower baselines on one machine, without --listen',
    );
  }
  // The paper's other baseline: another net (half the kernels, one column) with this run's recipe and data.
  const half = o.halfBaseline ? parseConfig({ ...config, net: loadConfig(o.halfBaseline).net }) : undefined;
  if (half) {
    const h = buildNet(half.net);
    planSplit(h, 1);
    if (h.inputShape.join('×') !== net.inputShape.join('×') || half.net.classes !== config.net.classes) {
      throw new ConfigError(
        '--half-baseline',
        `${o.halfBaseline}'s net takes ${h.inputShape.join('×')} images and ${half.net.classes} classes; this run's ${net.inputShape.join('×')} and ${config.net.classes}`,
      );
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
  const unlock = lockRunDir(out);
  let started = false;
  try {
    return await inRunDir(o, out, config, devices, half, resume, listen, () => (started = true));
  } catch (e) {
    // a run refused before it trained leaves no directory behind (unless the user named it)
    if (!started && !o.out) rmSync(out, { recursive: true, force: true });
    throw e;
  } finally {
    unlock();
  }
}

/** One run per run directory at a time: `<out>/.lock` holds the pid of the run using it. */
function lockRunDir(out: string): () => void {
  const lock = join(out, '.lock');
  for (;;) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(lock, 'utf8'));
      // our own pid: a run in a container (pid 1 each time) that was killed, not one still running
      if (pid > 0 && pid !== process.pid && isAlive(pid)) throw new ConfigError('--out', `${out} is in use by another run (pid ${pid}); give another --out`);
      rmSync(lock, { force: true }); // left by a run that died
    }
  }
  const unlock = (): void => rmSync(lock, { force: true });
  process.once('exit', unlock);
  return () => {
    unlock();
    process.off('exit', unlock);
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Keep the lines of `metrics.jsonl` whose run and step pass `keep` (unreadable lines go). */
function filterMetrics(file: string, keep: (run: string, step: number) => boolean): void {
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => {
      try {
        const m = JSON.parse(line) as { run?: string; step?: number };
        return typeof m.step === 'number' && keep(m.run ?? '', m.step);
      } catch {
        return false;
      }
    });
  writeAtomic(file, lines.map((l) => `${l}\n`).join(''));
}

/**
 * `metrics.jsonl` for this run: a fresh run starts it empty; a resumed one keeps each run's lines up to the
 * step its checkpoint holds, so the curves do not repeat the steps trained again.
 */
function startMetrics(file: string, resumed: ReadonlyMap<string, number> | undefined): void {
  if (!resumed || !existsSync(file)) writeFileSync(file, '');
  else filterMetrics(file, (run, step) => step <= (resumed.get(run) ?? 0));
}

/** A run's own checkpoint inside the resumed run directory (`baseline/`, `half/`), if it has one. */
function resumeFor(dir: string | undefined, run: string, net: Config['net']): Checkpoint | undefined {
  if (!dir || !existsSync(join(dir, run, CHECKPOINT_FILE))) return undefined;
  const c = readCheckpoint(join(dir, run));
  return JSON.stringify(c.config.net) === JSON.stringify(net) ? c : undefined;
}

async function inRunDir(
  o: MainOptions,
  out: string,
  config: Config,
  devices: string[],
  half: Config | undefined,
  resume: Checkpoint | undefined,
  listen: ListenAddress | undefined,
  onStart: () => void,
): Promise<number> {
  const { progress, log, stepLog } = runLogs(o, out, config.train.batch);
  const data = await openRunData(o, config, log);
  const { source } = data;
  const steps = stepsFor(config, source.train.count, o.steps, o.epochs);
  if (resume && resume.step >= steps) throw new ConfigError('--steps', `the checkpoint is at step ${resume.step} already; ask for more steps than that`);
  // GPUs are asked for with --gpus; the native backends are the ones with a GPU path.
  const gpu = o.gpus !== undefined && (o.backend === 'auto' || o.backend === 'tensorflow');
  const resumes = { split: resume, baseline: o.baseline ? resumeFor(o.resume, 'baseline', config.net) : undefined, half: half ? resumeFor(o.resume, 'half', half.net) : undefined };
  writeAtomic(join(out, 'config.resolved.json'), `${JSON.stringify(config, null, 2)}\n`);
  const metrics = join(out, 'metrics.jsonl');
  startMetrics(metrics, resume ? new Map(Object.entries(resumes).map(([run, c]) => [run, c?.step ?? 0])) : undefined);
  const onStep = (m: object): void => appendFileSync(metrics, `${JSON.stringify(m)}\n`);
  const onTick = progress ? (t: Tick) => progress.tick(t) : undefined;
  // Every session's towers are checked (a restarted tower may land elsewhere); the lines are said once.
  let told = false;
  const onReady = (s: Session): void => {
    checkDevices(s.readies, s.hellos, devices, told ? undefined : log);
    told = true;
  };
  const counts = { dataset: source.name, train: source.train.count, test: source.test.count, skipped: source.skipped.length };
  log.info({ config: o.config, out, towers: devices.length, steps, batch: config.train.batch, ...counts }, 'starting');
  // Towers on other hosts: one socket for the run; after a restart the towers rejoin on it.
  const listener = listen ? await openListener(o, listen, devices.length, log) : undefined;
  onStart();
  // Checkpoints: every --checkpoint-every steps, and always at the end (the baseline's in baseline/, the
  // half-kernel net's in half/); a resumed run's baselines continue from theirs when it has them.
  const every = o.checkpointEvery ?? Number.POSITIVE_INFINITY;
  const common = {
    config,
    data,
    backend: o.backend,
    gpu,
    steps,
    log,
    stepLog,
    onStep,
    onEval: onStep,
    onTick,
    onReady,
    ...(o.heartbeatTimeout ? { heartbeatTimeoutMs: o.heartbeatTimeout * 1000 } : {}),
    ...(listener ? { listener } : {}),
  };
  const restarts = { done: 0, max: o.maxRestarts ?? 0 };
  const run = (name: RunName, c: Config, on: string[], dir: string): Promise<RunResult> =>
    trainWithRestarts({ ...common, config: c, devices: on, run: name, checkpoint: { dir, every } }, resumes[name], { metrics, restarts });
  let split: RunResult;
  let base: RunResult | undefined;
  let halfRun: RunResult | undefined;
  try {
    split = await run('split', config, devices, out);
    if (o.baseline) base = await run('baseline', config, [devices[0]!], join(out, 'baseline'));
    if (half) halfRun = await run('half', half, [devices[0]!], join(out, 'half'));
  } finally {
    progress?.stop();
    listener?.link.close();
  }
  const { dataset, ...rest } = counts;
  const result = mainResult(split, base, halfRun && half ? { run: halfRun, net: half.net.name } : undefined, { name: dataset, ...rest });
  writeAtomic(join(out, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
  const report = await writeReport(out);
  log.info({ out, report }, `run directory: ${out} (open ${report})`);
  process.stdout.write(o.json ? `${JSON.stringify(result)}\n` : formatResult(split, base, halfRun));
  return 0;
}

type RunName = 'split' | 'baseline' | 'half';

/** On a terminal: progress bars, with log lines printed above them; else (or --json, --quiet) JSON lines. */
function runLogs(o: MainOptions, out: string, batch: number): { progress: Progress | undefined; log: Logger; stepLog: Logger } {
  const progress = !o.json && !o.quiet && process.stderr.isTTY ? new Progress(batch) : undefined;
  const logFile = join(out, 'log.jsonl');
  const log = makeLogger({ json: o.json, verbose: o.verbose, quiet: o.quiet, file: logFile, terminal: progress?.lines });
  // The per-window step lines: the bars show them on a terminal, so there they go to the log file only.
  const stepLog = progress ? pino({ base: null }, pino.destination({ dest: logFile, sync: true, append: true })) : log;
  return { progress, log, stepLog };
}

/** The config's data set, each bad input logged as it is skipped. */
async function openRunData(o: MainOptions, config: Config, log: Logger): Promise<Data> {
  const data = await openData(config, {
    ...(o.data ? { root: o.data } : {}),
    warn: (bad) => log.warn(bad, `skipped ${bad.file}: ${bad.reason}`),
    log: (msg) => log.info(msg),
  });
  const { skipped } = data.source;
  if (skipped.length > 0) log.warn({ skipped: skipped.length }, `${skipped.length} bad input(s) skipped (data.on_bad: skip)`);
  return data;
}

/**
 * A tower that dies takes its run down; with --max-restarts the run starts its towers again and resumes
 * from its last checkpoint (or from the start if it has none yet), as torchrun's elastic restarts do.
 * The restart count is shared by the runs of one command.
 */
async function trainWithRestarts(
  opts: TrainOptions & { checkpoint: { dir: string } },
  resume: Checkpoint | undefined,
  ctx: { metrics: string; restarts: { done: number; max: number } },
): Promise<RunResult> {
  const { restarts } = ctx;
  const { dir } = opts.checkpoint;
  let from = resume;
  for (;;) {
    try {
      return await train({ ...opts, ...(from && from.step < opts.steps ? { resume: from } : {}) });
    } catch (e) {
      if (!(e instanceof TowerError) || restarts.done >= restarts.max) throw e;
      restarts.done++;
      from = existsSync(join(dir, CHECKPOINT_FILE)) ? readCheckpoint(dir) : undefined;
      filterMetrics(ctx.metrics, (r, step) => r !== opts.run || step <= (from?.step ?? 0)); // the steps trained again
      const start = from ? `the checkpoint at step ${from.step}` : 'the start (no checkpoint yet)';
      opts.log.warn(
        { restart: restarts.done, of: restarts.max, from: from?.step ?? 0, cause: e.message },
        `${opts.run}: ${e.message}; restart ${restarts.done} of ${restarts.max}, from ${start}`,
      );
    }
  }
}

/** result.json: the split run's result, with the baselines' beside it and the speedups over them. */
function mainResult(split: RunResult, base: RunResult | undefined, half: { run: RunResult; net: string } | undefined, data: MainResult['data']): MainResult {
  const strip = ({ run: _run, ...r }: RunResult) => r;
  return {
    ...strip(split),
    data,
    ...(base ? { baseline: { ...strip(base), speedup: split.images_per_sec / base.images_per_sec } } : {}),
    ...(half ? { half: { ...strip(half.run), net: half.net, speedup: split.images_per_sec / half.run.images_per_sec } } : {}),
  };
}

/**
 * Where the towers really run: a warning per tower about its device, and one line per tower that was given
 * a GPU and is on the CPU, with the reason it gave (said when `log` is given). A tower started with
 * --backend tensorflow and a GPU that is not on one stops the run before it trains: the GPU path was asked
 * for and would not be had.
 */
function checkDevices(readies: readonly Header<'ready'>[], hellos: readonly Header<'hello'>[], devices: readonly string[], log: Logger | undefined): void {
  // the GPU a tower was given: its own --gpu (towers on other hosts), else its --gpus id
  const gpuOf = (t: number): string => hellos[t]?.gpu ?? devices[t]!;
  readies.forEach((r, t) => r.warning && log?.warn({ tower: t }, `tower ${t} (GPU ${gpuOf(t)}): ${r.warning}`));
  const onCpu = readies.flatMap((r, t) => (!r.gpu && r.noGpu ? [{ r, line: `tower ${t} (GPU ${gpuOf(t)}) is on the CPU, ${r.device}: ${r.noGpu}` }] : []));
  onCpu.forEach(({ line }) => log?.warn(line));
  const strict = onCpu.filter(({ r }) => r.choice === 'tensorflow');
  if (strict.length > 0) {
    throw new AlexnetError(
      'E_NO_GPU',
      `--backend tensorflow: ${strict.length} of ${readies.length} towers were given a GPU and are not on one (${strict.map((c) => c.line).join('; ')}); fix that, or train on tfjs-node's CPU kernels without GPUs (no --gpus)`,
    );
  }
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
