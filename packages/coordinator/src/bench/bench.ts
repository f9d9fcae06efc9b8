/**
 * `npm run bench`: is the split worth it, measured side by side in one run on this machine.
 *   - the split (one tower process per core) against the single-tower baseline, same config and batch;
 *   - against what a TypeScript user writes today (tf.sequential + model.fit on plain TF.js);
 *   - against the machine's limit (the best the wasm kernels do on one core: a large matmul);
 *   - per layer and per tower: forward and backward ms and the GFLOP/s they imply; per step: tower compute,
 *     exchange on the critical path, waiting for the other tower, coordinator work, waiting for data (the
 *     loader threads augmenting synthetic images as the config says); bytes per step.
 * Medians over measured steps after warm-up. Prints a table; `--json FILE` writes every number.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { buildNet, type Config, planSplit } from '@alexnet/core';
import { Command, Option } from 'commander';
import { nonNegative, positive } from '../cli/args.js';
import { resolveConfig } from '../cli/main.js';
import { type FitResult, fit, machineLimit } from './baselines.js';
import { DEVICES, EFFICIENCY, type Forecast, forecast } from './forecast.js';
import { type Links, type MeasureOptions, measure, measureWire, WIRE_WARMUP_MS } from './measure.js';
import { type RunStats, round, type WireStats } from './stats.js';

const root = resolve(import.meta.dirname, '../../../..');

const pad = (s: string | number, n: number): string => String(s).padStart(n);
const fmtBytes = (n: number): string => `${(n / 2 ** 20).toFixed(2)} MiB`;

function formatRuns(title: string, split: RunStats, single: RunStats): string {
  const lines = [title];
  const row = (label: string, r: RunStats): string =>
    `  ${label.padEnd(12)} ${pad(r.images_per_sec.toFixed(1), 8)} images/s   step ${pad(r.step_ms.toFixed(0), 6)} ms   busy ${r.busy_ms.map((b) => b.toFixed(0)).join('/')} ms   exchange ${r.exchange_ms.toFixed(0)} ms (${(r.exchange_share * 100).toFixed(1)}%)   waiting ${r.waiting_ms.map((b) => b.toFixed(0)).join('/')} ms   coordinator ${r.coordinator_ms.toFixed(0)} ms   data wait ${r.data_wait_ms.toFixed(1)} ms   ${r.gflops_per_tower.map((g) => g.toFixed(1)).join('/')} GFLOP/s per tower`;
  lines.push(row(`split (${split.towers})`, split), row(`single (${single.towers})`, single));
  lines.push(`  split / single: ${(split.images_per_sec / single.images_per_sec).toFixed(2)}×`);
  const b = split.bytes_per_step;
  lines.push(
    `  bytes per step (split): coordinator sent ${fmtBytes(b.sent)}, received ${fmtBytes(b.received)}; busiest process ${fmtBytes(b.max_process)}, the fewest the split implies ${fmtBytes(b.minimum)} (${b.max_process_over_minimum.toFixed(3)}×)`,
  );
  lines.push(`  per layer, split towers ${split.layers[0]!.forward_ms.map((_, t) => t).join('/')}: forward ms, backward ms (GFLOP/s)`);
  for (const l of split.layers) {
    const cell = (ms: number[], g: (number | null)[]): string => ms.map((m, t) => `${m.toFixed(1)}${g[t] !== null ? ` (${g[t]!.toFixed(1)})` : ''}`).join(' / ');
    lines.push(`    ${l.name.padEnd(8)} ${cell(l.forward_ms, l.forward_gflops).padEnd(30)} ${cell(l.backward_ms, l.backward_gflops)}`);
  }
  return lines.join('\n');
}

interface BenchOptions {
  json?: string;
  paperBatch: number;
  smallBatch?: number;
  microBatches?: number;
  steps: number;
  warmup: number;
  seconds: number;
  fit: boolean;
  only?: 'small' | 'paper';
  compute: 'full' | 'none';
  peerTransport?: 'shm' | 'stream' | 'zmq';
}

type Net = readonly [name: string, file: string, config: Config];
type Runs = Record<string, { split: RunStats; single: RunStats }>;

async function main(o: BenchOptions): Promise<void> {
  const t0 = performance.now();
  const links: Links = o.peerTransport ? { peerTransport: o.peerTransport } : {};
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const machine = { cpus: cpus().length, cpu, node: process.version };
  process.stdout.write(`alexnet-towers bench: ${cpus().length} × ${cpu}, node ${process.version}, backend wasm (XNNPACK, SIMD, 1 thread per tower)\n`);
  const limit = await machineLimit();
  process.stdout.write(`machine limit, wasm on one core: matmul 1024³ ${limit.matmul_gflops} GFLOP/s; conv2-shaped conv forward ${limit.conv_gflops} GFLOP/s\n\n`);
  const all = benchNets(o);
  const nets = all.filter(([name]) => !o.only || o.only === name);
  const wire = await wireSection(nets, Math.max(40, 2 * o.steps), links);
  if (o.compute === 'none') {
    if (o.json) writeJson(o.json, { date: new Date().toISOString(), machine, wire });
    return;
  }
  const runs = await cpuSection(nets, { warmup: o.warmup, steps: o.steps, seconds: o.seconds, links });
  // model.fit runs the paper net, whichever net --only names
  const paper = all.find(([name]) => name === 'paper')![2];
  const fits = o.fit ? await fitSection(paper) : [];
  const predicted = wire.paper && runs.paper ? predictSection(paper, wire.paper, runs.paper) : null;
  const summary = summarise(runs, fits);
  const seconds = round((performance.now() - t0) / 1000, 0);
  printSummary(summary, wire, limit.best_gflops, seconds);
  if (o.json) writeJson(o.json, { date: new Date().toISOString(), machine, limit, ...summary, wire, predicted, runs, model_fit: fits, seconds });
}

/** The two configs the bench runs, with the batch and micro-batch options applied. */
function benchNets(o: BenchOptions): Net[] {
  const withBatch = (file: string, batch?: number): Config => {
    const c = resolveConfig({ config: resolve(root, file), ...(batch ? { batch } : {}) });
    return o.microBatches ? { ...c, train: { ...c.train, micro_batches: o.microBatches } } : c;
  };
  return [
    ['small', 'configs/mnist-small.yaml', withBatch('configs/mnist-small.yaml', o.smallBatch)],
    ['paper', 'configs/alexnet.yaml', withBatch('configs/alexnet.yaml', o.paperBatch)],
  ];
}

/** Each net split over two towers and on one, side by side. */
async function cpuSection(nets: readonly Net[], m: MeasureOptions): Promise<Runs> {
  const runs: Runs = {};
  for (const [name, file, config] of nets) {
    const split = await measure(config, 2, m);
    const single = await measure(config, 1, m);
    runs[name] = { split, single };
    const { batch, micro_batches } = config.train;
    const steps = `warm-up + measured steps: split ${split.warmup_steps} + ${split.steps}, single ${single.warmup_steps} + ${single.steps}`;
    process.stdout.write(`${formatRuns(`${name} net (${file}), batch ${batch}, ${micro_batches} micro-batch(es), ${steps}; medians`, split, single)}\n\n`);
  }
  return runs;
}

/** Plain TF.js on its default Node backend (cpu) takes minutes per paper-net image: one image, one step. */
async function fitSection(paper: Config): Promise<FitResult[]> {
  const fits = [await fit('paper', paper, 'cpu', 1, 1), await fit('paper', paper, 'wasm', 1, 1)];
  process.stdout.write('tf.sequential + model.fit (plain TF.js, grouped convs as whole ones, fresh process):\n');
  for (const f of fits) {
    const what = f.ok ? `${f.images_per_sec!.toPrecision(3)} images/s (steps ${f.step_ms!.join(', ')} ms)` : `cannot train: ${f.error}`;
    process.stdout.write(`  ${f.config} net, ${f.backend}, batch ${f.batch}: ${what}\n`);
  }
  return fits;
}

type Summary = ReturnType<typeof summarise>;

function summarise(runs: Runs, fits: readonly FitResult[]) {
  const paperFit = fits.find((f) => f.config === 'paper' && f.ok);
  const { paper: p, small: sm } = runs;
  const ratio = (r?: { split: RunStats; single: RunStats }): number | null => (r ? round(r.split.images_per_sec / r.single.images_per_sec, 3) : null);
  return {
    split_over_single: { paper: ratio(p), small: ratio(sm) },
    over_model_fit: p && paperFit ? round(p.split.images_per_sec / paperFit.images_per_sec!, 0) : null,
    exchange_share: p ? p.split.exchange_share : null,
    bytes: {
      paper: p ? { max_process_over_minimum: p.split.bytes_per_step.max_process_over_minimum } : null,
      small: sm ? { max_process_over_minimum: sm.split.bytes_per_step.max_process_over_minimum } : null,
    },
    gflops_per_tower: p ? round(Math.min(...p.split.gflops_per_tower), 1) : null,
  };
}

function printSummary(summary: Summary, wire: Record<string, WireNet>, bestGflops: number, seconds: number): void {
  const show = (x: number | null, f: (x: number) => string): string => (x === null ? 'not measured' : f(x));
  process.stdout.write(
    [
      '',
      'summary (targets in brackets):',
      `  split / single, paper net   ${show(summary.split_over_single.paper, (x) => `${x.toFixed(2)}×`)}  [≥ 1.85]`,
      `  split / single, small net   ${show(summary.split_over_single.small, (x) => `${x.toFixed(2)}×`)}  [≥ 1.5]`,
      `  wire only, paper split, 128 ${show(wire.paper?.split ?? null, (x) => `${x.toFixed(0)} images/s`)}  [≥ 4,500]`,
      `  busiest process / fewest    ${show(summary.bytes.paper?.max_process_over_minimum ?? null, (x) => `${x.toFixed(3)}× (paper net)`)}  [≤ 1.05]`,
      `  split / model.fit, paper    ${show(summary.over_model_fit, (x) => `${x}×`)}  [≥ 300]`,
      `  exchange on critical path   ${show(summary.exchange_share, (x) => `${(x * 100).toFixed(1)}% of a paper-net step`)}  [≤ 5%]`,
      `  training GFLOP/s per tower  ${show(summary.gflops_per_tower, (x) => `${x} (paper net; wasm limit, best of matmul and conv: ${bestGflops})`)}  [≥ 20]`,
      `  bench took ${seconds} s`,
      '',
    ].join('\n'),
  );
}

interface Predicted {
  batch: number;
  micro_batches: number;
  efficiency: number;
  formula: string;
  devices: { name: string; fp32_tflops: number; source: string; towers: Record<string, Forecast & { split_over_single?: number }> }[];
  /** The model on this machine (its tower's measured FLOP/s and wire) beside what the bench measured. */
  check: { batch: number; split: { predicted: number; measured: number }; single: { predicted: number; measured: number } };
}

/**
 * The forecast (forecast.ts) for the paper net at batch 128 on 1, 2 and 4 towers of each named device and
 * of this machine's tower, with the wire as measured here; and checked against this run's measured steps.
 */
function predictSection(config: Config, wire: WireNet, runs: { split: RunStats; single: RunStats }): Predicted {
  const net = buildNet(config.net);
  const m = config.train.micro_batches;
  const wireMs = (towers: number, batch: number): number => wire.runs.find((r) => r.towers === towers && r.batch === batch)!.step_ms;
  const here = runs.single.gflops_per_tower[0]! * 1e9;
  const devices = [
    { name: 'this machine (one wasm tower, measured)', fp32_tflops: round(here / 1e12, 4), source: 'this bench: the single-tower run', rate: here },
    ...DEVICES.map((d) => ({ ...d, rate: d.fp32_tflops * 1e12 * EFFICIENCY })),
  ];
  const lines = [
    `predicted, paper net at batch ${PAPER_BATCH}, ${m} micro-batches: step = max(compute, wire) + min(compute, wire) / ${m}; compute at ${EFFICIENCY}× fp32 peak; wire as measured here`,
  ];
  lines.push(`  ${'device'.padEnd(40)} ${'TFLOP/s'.padStart(8)} ${'1 tower'.padStart(13)} ${'2 towers'.padStart(22)} ${'4 towers'.padStart(22)}`);
  const out = devices.map(({ rate, ...d }) => {
    const towers: Record<string, Forecast & { split_over_single?: number }> = {};
    for (const n of [1, 2, 4]) towers[n] = forecast(planSplit(net, n), PAPER_BATCH, m, rate, wireMs(n, PAPER_BATCH));
    for (const n of [2, 4]) towers[n]!.split_over_single = round(towers[n]!.images_per_sec / towers[1]!.images_per_sec, 3);
    const cell = (n: number): string => `${towers[n]!.images_per_sec.toFixed(0)} images/s${n > 1 ? ` (${towers[n]!.split_over_single!.toFixed(2)}×)` : ''}`;
    lines.push(`  ${d.name.padEnd(40)} ${d.fp32_tflops.toFixed(2).padStart(8)} ${cell(1).padStart(13)} ${cell(2).padStart(22)} ${cell(4).padStart(22)}`);
    return { ...d, towers };
  });
  // The check: the same model at the bench's own batch, against the steps it measured.
  const b = runs.split.batch;
  const predict = (n: number): number => forecast(planSplit(net, n), b, runs.split.micro_batches, here, wireMs(n, b)).images_per_sec;
  const check = { batch: b, split: { predicted: predict(2), measured: runs.split.images_per_sec }, single: { predicted: predict(1), measured: runs.single.images_per_sec } };
  lines.push(
    `  check on this machine, batch ${b}: split predicted ${check.split.predicted.toFixed(2)} images/s, measured ${check.split.measured.toFixed(2)}; single predicted ${check.single.predicted.toFixed(2)}, measured ${check.single.measured.toFixed(2)}`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  return { batch: PAPER_BATCH, micro_batches: m, efficiency: EFFICIENCY, formula: 'max(compute, wire) + min(compute, wire) / micro_batches', devices: out, check };
}

function writeJson(file: string, out: object): void {
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(`wrote ${file}\n`);
}

/** The paper's batch: the wire-only figures the targets are set at. */
const PAPER_BATCH = 128;

interface WireNet {
  /** Wire-only images/s at the paper's batch (128), split over 2 towers and on 1. */
  split: number;
  single: number;
  runs: WireStats[];
}

/** Wire-only throughput of each net, split and single, at the bench batch and at 128. */
async function wireSection(nets: readonly Net[], steps: number, links: Links): Promise<Record<string, WireNet>> {
  const out: Record<string, WireNet> = {};
  process.stdout.write(
    `wire only (towers skip the arithmetic and answer with zeros of the right shapes; each run warms up for ${WIRE_WARMUP_MS / 1000} s, then ${steps} steps are measured):\n`,
  );
  for (const [name, , config] of nets) {
    const runs: WireStats[] = [];
    for (const batch of [...new Set([config.train.batch, PAPER_BATCH])]) {
      for (const towers of batch === PAPER_BATCH ? [4, 2, 1] : [2, 1]) {
        const r = await measureWire(config, towers, batch, 3, steps, links);
        runs.push(r);
        const b = r.bytes_per_step;
        process.stdout.write(
          `  ${name.padEnd(6)} ${`${towers === 1 ? 'single' : 'split'} (${towers})`.padEnd(10)} batch ${pad(batch, 3)}: ${pad(r.images_per_sec.toFixed(0), 7)} images/s   step ${pad(r.step_ms.toFixed(1), 7)} ms   busiest process ${fmtBytes(b.max_process)} per step, ${b.max_process_over_minimum.toFixed(3)}× the fewest   (${r.warmup_steps} warm-up steps)\n`,
        );
      }
    }
    const at = (towers: number): number => runs.find((r) => r.towers === towers && r.batch === PAPER_BATCH)!.images_per_sec;
    out[name] = { split: at(2), single: at(1), runs };
  }
  process.stdout.write('\n');
  return out;
}

const program = new Command('bench')
  .description('split vs single tower vs model.fit vs the machine limit, measured side by side')
  .option('--json <file>', 'also write every number as JSON')
  .option('--paper-batch <n>', 'batch for the paper net', positive('--paper-batch'), 64)
  .option('--small-batch <n>', "batch for the small net (default: its config's)", positive('--small-batch'))
  .option('--micro-batches <n>', "micro-batches per step (default: the configs')", positive('--micro-batches'))
  .option('--steps <n>', 'measured steps per CPU run, at least (see --seconds)', positive('--steps'), 5)
  .option('--warmup <n>', 'warm-up steps per CPU run, at least (see --seconds)', positive('--warmup'), 2)
  .option(
    '--seconds <s>',
    'measure each CPU run for at least this long, after a warm-up of at least 3 s (or this, if less); 0: the step counts alone',
    nonNegative('--seconds'),
    10,
  )
  .option('--no-fit', 'skip the tf.sequential + model.fit comparison (minutes on the cpu backend)')
  .addOption(new Option('--compute <mode>', 'none: the wire-only section alone (towers skip the arithmetic)').choices(['full', 'none']).default('full'))
  .addOption(new Option('--only <net>', 'measure one net only (no summary)').choices(['small', 'paper']))
  .addOption(
    new Option(
      '--peer-transport <kind>',
      "the towers' links to each other (default: the coordinator's: zmq for the wasm runs, shm for the wire-only ones where /dev/shm exists)",
    ).choices(['shm', 'stream', 'zmq']),
  );
program.parse();
await main(program.opts<BenchOptions>());
