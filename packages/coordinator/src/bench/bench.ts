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
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { buildNet, type Config, initBackend, planSplit, towerFlops, trainingFlops } from '@alexnet/core';
import * as tf from '@tensorflow/tfjs';
import { Command, Option } from 'commander';
import { pino } from 'pino';
import { nonNegative, positive } from '../args.js';
import { busiest, minimumBytes } from '../bytes.js';
import { Loader, openData, Prefetch } from '../data/index.js';
import { resolveConfig } from '../main.js';
import { Session } from '../session.js';
import { DEVICES, EFFICIENCY, type Forecast, forecast } from './forecast.js';

const root = resolve(import.meta.dirname, '../../../..');
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const round = (x: number, d = 2): number => Number(x.toFixed(d));

export interface LayerRow {
  name: string;
  kind: string;
  /** Per tower, median ms per step. */
  forward_ms: number[];
  backward_ms: number[];
  /** Per tower, GFLOP/s implied by the layer's FLOPs on that tower (conv and dense only). */
  forward_gflops: (number | null)[];
  backward_gflops: (number | null)[];
}

export interface RunStats {
  towers: number;
  batch: number;
  micro_batches: number;
  /** Steps run before measuring, and measured (at least the counts asked for, and CPU_WARMUP_MS and CPU_MEASURE_MS). */
  warmup_steps: number;
  steps: number;
  step_ms: number;
  images_per_sec: number;
  /** Per tower: median ms per step spent computing (and encoding replies). */
  busy_ms: number[];
  /** Step time during which even the busiest tower was not computing: data on the wire or at the coordinator. */
  exchange_ms: number;
  exchange_share: number;
  /** Per tower: time it idled while the busiest tower computed (load imbalance). */
  waiting_ms: number[];
  /** Coordinator arithmetic (loss, gradient sums, concatenation) per step. */
  coordinator_ms: number;
  /** Per step, time the train loop waited for the loader threads' batch (augmented as the config says). */
  data_wait_ms: number;
  /**
   * Payload bytes per step: through the coordinator, and through the busiest process (a tower: its peer
   * sockets and its link to the coordinator) next to the fewest the split implies for any one process.
   */
  bytes_per_step: { sent: number; received: number; max_process: number; minimum: number; max_process_over_minimum: number };
  training_gflop_per_tower_step: number[];
  gflops_per_tower: number[];
  layers: LayerRow[];
}

/**
 * The config's data settings (augmentation, normalisation, loader threads) on synthetic images stored at the
 * config's stored size, so the loader does the work it would do on the real set.
 */
function syntheticLike(config: Config): Config {
  const { dataset: _d, ...rest } = config.data;
  const common = { on_bad: rest.on_bad, workers: rest.workers, prefetch: rest.prefetch, augment: rest.augment, normalize: rest.normalize };
  const size = 'size' in rest && rest.size ? rest.size : config.net.input.height;
  return { ...config, data: { dataset: 'synthetic', train: 2 * config.train.batch, test: 1, size, ...common } };
}

async function measure(config: Config, towers: number, warmup: number, steps: number, seconds: number): Promise<RunStats> {
  const log = pino({ level: 'silent' });
  const devices = Array.from({ length: towers }, (_, i) => String(i));
  const { batch } = config.train;
  const bench = syntheticLike(config);
  const data = await openData(bench);
  const { source, spec } = data;
  const session = await Session.start({ config, devices, backend: 'wasm', gpu: false, log, profile: true, data, ...links() });
  const loader = new Loader(source.train, source.test, spec, session.rendering ? 1 : bench.data.workers);
  try {
    // as the train loop does: the loader threads make the next `prefetch` batches while the towers compute
    const indices = (s: number): Uint32Array => Uint32Array.from({ length: batch }, (_, i) => (s % 2) * batch + i);
    const labels = (s: number): Int32Array => Int32Array.from(indices(s), (i) => source.train.labels[i]!);
    const prefetch = new Prefetch(session.batches(loader), indices, batch, bench.data.prefetch);
    const images = (s: number) => prefetch.take(s);
    const lr = 1e-4; // speed does not depend on the values; keep them finite
    // Warm up and measure for a minimum time as well as a minimum count: five small-net steps are one second,
    // a sample this VM's drift swings by a third.
    let s = 0;
    for (const t0 = performance.now(); s < warmup || (s < MAX_STEPS && performance.now() - t0 < Math.min(CPU_WARMUP_MS, seconds * 1000)); s++)
      await session.trainStep(s, (await images(s)).images, labels(s), lr);
    const first = s;
    const plan = session.plan;
    const wall: number[] = [];
    const busy: number[][] = [];
    const coord: number[] = [];
    const waits: number[] = [];
    const fwd: number[][][] = [];
    const bwd: number[][][] = [];
    const b0 = session.bytes;
    for (const t1 = performance.now(); s < first + steps || (s < first + MAX_STEPS && performance.now() - t1 < seconds * 1000); s++) {
      const stats = session.resetStats();
      const t0 = performance.now();
      const x = await images(s);
      const { timing } = await session.trainStep(s, x.images, labels(s), lr);
      wall.push(performance.now() - t0);
      waits.push(x.waitMs);
      busy.push(stats.busy.slice());
      coord.push(timing.exchange);
      fwd.push(stats.forward.map((r) => r.slice()));
      bwd.push(stats.backward.map((r) => r.slice()));
    }
    const b1 = session.bytes;
    const measured = wall.length;
    const stepMs = median(wall);
    const busyMs = Array.from({ length: towers }, (_, t) => median(busy.map((b) => b[t]!)));
    const exchange = median(wall.map((w, s) => w - Math.max(...busy[s]!)));
    const maxBusy = Math.max(...busyMs);
    const flops = Array.from({ length: towers }, (_, t) => towerFlops(plan, t));
    const perLayer = (xs: number[][][], t: number, i: number): number => median(xs.map((x) => x[t]![i]!));
    const gflops = (f: number, ms: number): number | null => (ms > 0 ? round((f * batch) / ms / 1e6, 1) : null);
    const layers: LayerRow[] = plan.layers.map((p, i) => {
      const heavy = p.layer.spec.kind === 'conv' || p.layer.spec.kind === 'dense';
      const fms = Array.from({ length: towers }, (_, t) => round(perLayer(fwd, t, i)));
      const bms = Array.from({ length: towers }, (_, t) => round(perLayer(bwd, t, i)));
      return {
        name: p.layer.name,
        kind: p.layer.spec.kind,
        forward_ms: fms,
        backward_ms: bms,
        forward_gflops: fms.map((ms, t) => (heavy ? gflops(flops[t]![i]!.forward, ms) : null)),
        backward_gflops: bms.map((ms, t) => (heavy ? gflops(flops[t]![i]!.backward, ms) : null)),
      };
    });
    const trainFlops = Array.from({ length: towers }, (_, t) => trainingFlops(plan, t) * batch);
    return {
      towers,
      batch,
      micro_batches: config.train.micro_batches,
      warmup_steps: first,
      steps: measured,
      step_ms: round(stepMs, 1),
      images_per_sec: round((batch * 1000) / stepMs, 2),
      busy_ms: busyMs.map((b) => round(b, 1)),
      exchange_ms: round(exchange, 1),
      exchange_share: round(exchange / stepMs, 4),
      waiting_ms: busyMs.map((b) => round(maxBusy - b, 1)),
      coordinator_ms: round(median(coord), 1),
      data_wait_ms: round(median(waits), 1),
      bytes_per_step: perProcess(b0, b1, measured, busiest(minimumBytes(plan, batch))),
      training_gflop_per_tower_step: trainFlops.map((f) => round(f / 1e9, 2)),
      gflops_per_tower: trainFlops.map((f) => round(f / stepMs / 1e6, 1)),
      layers,
    };
  } finally {
    await session.close();
    await loader.close();
  }
}

export interface WireStats {
  towers: number;
  batch: number;
  /** Steps run before measuring (until the step time settles), then measured. */
  warmup_steps: number;
  steps: number;
  step_ms: number;
  images_per_sec: number;
  /** Payload bytes per step through the coordinator (sent + received). */
  coordinator_bytes: number;
  bytes_per_step: RunStats['bytes_per_step'];
}

type Bytes = Session['bytes'];

/** Bytes per step between two readings of `session.bytes`, the busiest process's next to `minimum`. */
function perProcess(b0: Bytes, b1: Bytes, steps: number, minimum: number): RunStats['bytes_per_step'] {
  const through = (x: Bytes): number[] => [x.sent + x.received, ...x.towers.map((t) => t.sent + t.received)];
  const before = through(b0);
  const max = Math.max(...through(b1).map((b, i) => (b - before[i]!) / steps));
  return {
    sent: Math.round((b1.sent - b0.sent) / steps),
    received: Math.round((b1.received - b0.received) / steps),
    max_process: Math.round(max),
    minimum,
    max_process_over_minimum: minimum > 0 ? round(max / minimum, 4) : 0,
  };
}

/**
 * The exchange alone: towers started with `compute: 'none'` answer every request at once with zeros of the
 * right shapes, so a step is the wire, the coordinator's work and the scheduling, at this config and batch.
 */
async function measureWire(config: Config, towers: number, batch: number, warmup: number, steps: number): Promise<WireStats> {
  const log = pino({ level: 'silent' });
  const devices = Array.from({ length: towers }, (_, i) => String(i));
  const c: Config = { ...config, train: { ...config.train, batch } };
  const session = await Session.start({ config: c, devices, backend: 'wasm', gpu: false, log, compute: 'none', ...links() });
  try {
    // no images at all: the towers draw none (they would render their own)
    const images = { batch: -1, count: batch };
    const labels = new Int32Array(batch);
    // Warm up for `warmup` steps and at least WIRE_WARMUP_MS (at most 500 steps): a wire-only step of the
    // paper net here took ~27 ms over the first 60 steps and settled at ~18 ms after ~180 (about 4 s).
    let done = 0;
    for (const t0 = performance.now(); done < warmup || (done < 500 && performance.now() - t0 < WIRE_WARMUP_MS); done++) await session.trainStep(done, images, labels, 0);
    const b0 = session.bytes;
    const wall: number[] = [];
    for (let s = done; s < done + steps; s++) {
      const t0 = performance.now();
      await session.trainStep(s, images, labels, 0);
      wall.push(performance.now() - t0);
    }
    const b1 = session.bytes;
    const stepMs = median(wall);
    const bytes = perProcess(b0, b1, steps, busiest(minimumBytes(session.plan, batch)));
    return {
      towers,
      batch,
      warmup_steps: done,
      steps,
      step_ms: round(stepMs, 2),
      images_per_sec: round((batch * 1000) / stepMs, 1),
      coordinator_bytes: bytes.sent + bytes.received,
      bytes_per_step: bytes,
    };
  } finally {
    await session.close();
  }
}

interface FitResult {
  config: string;
  backend: string;
  batch: number;
  ok: boolean;
  images_per_sec?: number;
  step_ms?: number[];
  error?: string;
}

/** tf.sequential + model.fit in a fresh process (plain TF.js: none of our kernels registered). */
async function fit(name: string, config: Config, backend: string, batch: number, steps: number): Promise<FitResult> {
  const dir = mkdtempSync(join(tmpdir(), 'alexnet-fit-'));
  try {
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify(config));
    const script = resolve(import.meta.dirname, 'fit.js');
    const { stdout } = await promisify(execFile)(process.execPath, [script, file, backend, String(batch), String(steps)], { maxBuffer: 1 << 20, timeout: 20 * 60_000 });
    const r = JSON.parse(stdout.trim().split('\n').pop()!) as { ok: boolean; step_ms?: number[]; error?: string };
    // The first step carries one-time costs: use the later ones when there are any.
    const ms = r.step_ms && r.step_ms.length > 1 ? median(r.step_ms.slice(1)) : r.step_ms?.[0];
    const base = { config: name, backend, batch, ok: r.ok };
    if (r.ok && ms) return { ...base, images_per_sec: (batch * 1000) / ms, step_ms: r.step_ms!.map((x) => round(x, 0)) };
    return r.error === undefined ? base : { ...base, error: r.error };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The best the wasm kernels do on one core: a 1024³ matmul and a conv2-shaped forward convolution. */
async function machineLimit(): Promise<{ matmul_gflops: number; conv_gflops: number; best_gflops: number }> {
  await initBackend('wasm', false);
  const time = (f: () => tf.Tensor, flop: number): number => {
    for (let i = 0; i < 2; i++) f().dispose();
    const ms: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      f().dispose();
      ms.push(performance.now() - t0);
    }
    return round(flop / median(ms) / 1e6, 1);
  };
  const a = tf.randomNormal([1024, 1024]);
  const b = tf.randomNormal([1024, 1024]);
  const x = tf.randomNormal([16, 27, 27, 48]);
  const w = tf.randomNormal([5, 5, 48, 128]);
  const matmul = time(() => tf.matMul(a, b), 2 * 1024 ** 3);
  const conv = time(() => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'), 2 * 16 * 27 * 27 * 128 * 5 * 5 * 48);
  tf.dispose([a, b, x, w]);
  // The matmul reading swings (13.9 to 33.7 seen here on the same VM) more than the conv's (30 to 36).
  return { matmul_gflops: matmul, conv_gflops: conv, best_gflops: Math.max(matmul, conv) };
}

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

/** The towers' links to each other when --peer-transport names them (else the coordinator's default). */
let peerTransport: BenchOptions['peerTransport'];
const links = (): { peerTransport?: NonNullable<BenchOptions['peerTransport']> } => (peerTransport ? { peerTransport } : {});

async function main(o: BenchOptions): Promise<void> {
  const t0 = performance.now();
  peerTransport = o.peerTransport;
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  process.stdout.write(`alexnet-towers bench: ${cpus().length} × ${cpu}, node ${process.version}, backend wasm (XNNPACK, SIMD, 1 thread per tower)\n`);
  const limit = await machineLimit();
  process.stdout.write(`machine limit, wasm on one core: matmul 1024³ ${limit.matmul_gflops} GFLOP/s; conv2-shaped conv forward ${limit.conv_gflops} GFLOP/s\n\n`);
  const withBatch = (file: string, batch?: number): Config => {
    const c = resolveConfig({ config: resolve(root, file), ...(batch ? { batch } : {}) });
    return o.microBatches ? { ...c, train: { ...c.train, micro_batches: o.microBatches } } : c;
  };
  const small = withBatch('configs/mnist-small.yaml', o.smallBatch);
  const paper = withBatch('configs/alexnet.yaml', o.paperBatch);
  const nets = (
    [
      ['small', 'configs/mnist-small.yaml', small],
      ['paper', 'configs/alexnet.yaml', paper],
    ] as const
  ).filter(([name]) => !o.only || o.only === name);
  const wire = await wireSection(nets, Math.max(40, 2 * o.steps));
  if (o.compute === 'none') {
    if (o.json) writeJson(o.json, { date: new Date().toISOString(), machine: { cpus: cpus().length, cpu, node: process.version }, wire });
    return;
  }
  const runs: Record<string, { split: RunStats; single: RunStats }> = {};
  for (const [name, file, config] of nets) {
    const split = await measure(config, 2, o.warmup, o.steps, o.seconds);
    const single = await measure(config, 1, o.warmup, o.steps, o.seconds);
    runs[name] = { split, single };
    process.stdout.write(
      `${formatRuns(`${name} net (${file}), batch ${config.train.batch}, ${config.train.micro_batches} micro-batch(es), warm-up + measured steps: split ${split.warmup_steps} + ${split.steps}, single ${single.warmup_steps} + ${single.steps}; medians`, split, single)}\n\n`,
    );
  }
  const fits: FitResult[] = [];
  if (o.fit) {
    // Plain TF.js on its default Node backend (cpu) takes minutes per paper-net image: one image, one step.
    fits.push(await fit('paper', paper, 'cpu', 1, 1));
    fits.push(await fit('paper', paper, 'wasm', 1, 1));
    process.stdout.write('tf.sequential + model.fit (plain TF.js, grouped convs as whole ones, fresh process):\n');
    for (const f of fits) {
      process.stdout.write(
        `  ${f.config} net, ${f.backend}, batch ${f.batch}: ${f.ok ? `${f.images_per_sec!.toPrecision(3)} images/s (steps ${f.step_ms!.join(', ')} ms)` : `cannot train: ${f.error}`}\n`,
      );
    }
  }
  const predicted = wire.paper && runs.paper ? predictSection(paper, wire.paper, runs.paper) : null;
  const paperFit = fits.find((f) => f.config === 'paper' && f.ok);
  const { paper: p, small: sm } = runs;
  const ratio = (r?: { split: RunStats; single: RunStats }): number | null => (r ? round(r.split.images_per_sec / r.single.images_per_sec, 3) : null);
  const summary = {
    split_over_single: { paper: ratio(p), small: ratio(sm) },
    over_model_fit: p && paperFit ? round(p.split.images_per_sec / paperFit.images_per_sec!, 0) : null,
    exchange_share: p ? p.split.exchange_share : null,
    bytes: {
      paper: p ? { max_process_over_minimum: p.split.bytes_per_step.max_process_over_minimum } : null,
      small: sm ? { max_process_over_minimum: sm.split.bytes_per_step.max_process_over_minimum } : null,
    },
    gflops_per_tower: p ? round(Math.min(...p.split.gflops_per_tower), 1) : null,
  };
  const seconds = round((performance.now() - t0) / 1000, 0);
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
      `  training GFLOP/s per tower  ${show(summary.gflops_per_tower, (x) => `${x} (paper net; wasm limit, best of matmul and conv: ${limit.best_gflops})`)}  [≥ 20]`,
      `  bench took ${seconds} s`,
      '',
    ].join('\n'),
  );
  if (o.json) {
    writeJson(o.json, {
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, cpu, node: process.version },
      limit,
      ...summary,
      wire,
      predicted,
      runs,
      model_fit: fits,
      seconds,
    });
  }
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

/** A CPU run warms up for at least this long (or --seconds, if less); it runs at most MAX_STEPS steps either way. */
const CPU_WARMUP_MS = 3000;
const MAX_STEPS = 200;

/** How long a wire-only run warms up before it is measured. */
const WIRE_WARMUP_MS = 6000;

/** The paper's batch: the wire-only figures the targets are set at. */
const PAPER_BATCH = 128;

interface WireNet {
  /** Wire-only images/s at the paper's batch (128), split over 2 towers and on 1. */
  split: number;
  single: number;
  runs: WireStats[];
}

/** Wire-only throughput of each net, split and single, at the bench batch and at 128. */
async function wireSection(nets: readonly (readonly [string, string, Config])[], steps: number): Promise<Record<string, WireNet>> {
  const out: Record<string, WireNet> = {};
  process.stdout.write(
    `wire only (towers skip the arithmetic and answer with zeros of the right shapes; each run warms up for ${WIRE_WARMUP_MS / 1000} s, then ${steps} steps are measured):\n`,
  );
  for (const [name, , config] of nets) {
    const runs: WireStats[] = [];
    for (const batch of [...new Set([config.train.batch, PAPER_BATCH])]) {
      for (const towers of batch === PAPER_BATCH ? [4, 2, 1] : [2, 1]) {
        const r = await measureWire(config, towers, batch, 3, steps);
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
