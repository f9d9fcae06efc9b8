/**
 * One measured run: towers started for a config, warmed up, then stepped while the bench samples each
 * step's wall time, tower busy time, per-layer time and bytes; and the same with the arithmetic skipped.
 */
import { type Config, towerFlops, trainingFlops } from '@alexnet/core';
import { pino } from 'pino';
import { type Data, Loader, openData, Prefetch } from '../data/index.js';
import { busiest, minimumBytes } from '../plan/bytes.js';
import { Session, type SessionOptions } from '../towers/session.js';
import { type LayerRow, median, perProcess, type RunStats, round, type WireStats } from './stats.js';

/** A CPU run warms up for at least this long (or --seconds, if less); it runs at most MAX_STEPS steps either way. */
const CPU_WARMUP_MS = 3000;
const MAX_STEPS = 200;

/** How long a wire-only run warms up before it is measured. */
export const WIRE_WARMUP_MS = 6000;

/** The towers' links to each other, when the bench names them. */
export type Links = Pick<SessionOptions, 'peerTransport'>;

export interface MeasureOptions {
  warmup: number;
  steps: number;
  seconds: number;
  links?: Links;
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

/** The split (towers > 1) or single-tower run of a config on the bench's synthetic images. */
export async function measure(config: Config, towers: number, o: MeasureOptions): Promise<RunStats> {
  const devices = Array.from({ length: towers }, (_, i) => String(i));
  const bench = syntheticLike(config);
  const data = await openData(bench);
  const session = await Session.start({ config, devices, backend: 'wasm', gpu: false, log: pino({ level: 'silent' }), profile: true, data, ...o.links });
  const loader = new Loader(data.source.train, data.source.test, data.spec, session.rendering ? 1 : bench.data.workers);
  try {
    return summarise(config, session, await sample(session, loader, data, bench, o));
  } finally {
    await session.close();
    await loader.close();
  }
}

interface Samples {
  warmup: number;
  wall: number[];
  busy: number[][];
  coordinator: number[];
  waits: number[];
  forward: number[][][];
  backward: number[][][];
  bytes: RunStats['bytes_per_step'];
}

/** Warm up, then step and sample, each for a minimum time as well as a minimum count. */
async function sample(session: Session, loader: Loader, data: Data, bench: Config, o: MeasureOptions): Promise<Samples> {
  const { batch } = bench.train;
  // as the train loop does: the loader threads make the next `prefetch` batches while the towers compute
  const indices = (s: number): Uint32Array => Uint32Array.from({ length: batch }, (_, i) => (s % 2) * batch + i);
  const labels = (s: number): Int32Array => Int32Array.from(indices(s), (i) => data.source.train.labels[i]!);
  const prefetch = new Prefetch(session.batches(loader), indices, batch, bench.data.prefetch);
  const lr = 1e-4; // speed does not depend on the values; keep them finite
  // Five small-net steps are one second, a sample this VM's drift swings by a third: hence the minimum time.
  let s = 0;
  for (const t0 = performance.now(); s < o.warmup || (s < MAX_STEPS && performance.now() - t0 < Math.min(CPU_WARMUP_MS, o.seconds * 1000)); s++) {
    await session.trainStep(s, (await prefetch.take(s)).images, labels(s), lr);
  }
  const first = s;
  const out: Omit<Samples, 'bytes'> = { warmup: first, wall: [], busy: [], coordinator: [], waits: [], forward: [], backward: [] };
  const b0 = session.bytes;
  for (const t1 = performance.now(); s < first + o.steps || (s < first + MAX_STEPS && performance.now() - t1 < o.seconds * 1000); s++) {
    const stats = session.resetStats();
    const t0 = performance.now();
    const x = await prefetch.take(s);
    const { timing } = await session.trainStep(s, x.images, labels(s), lr);
    out.wall.push(performance.now() - t0);
    out.waits.push(x.waitMs);
    out.busy.push(stats.busy.slice());
    out.coordinator.push(timing.exchange);
    out.forward.push(stats.forward.map((r) => r.slice()));
    out.backward.push(stats.backward.map((r) => r.slice()));
  }
  return { ...out, bytes: perProcess(b0, session.bytes, out.wall.length, busiest(minimumBytes(session.plan, batch))) };
}

/** Medians of the samples, per tower and per layer, with the FLOP rates they imply. */
function summarise(config: Config, session: Session, x: Samples): RunStats {
  const { plan, towers } = session;
  const { batch } = config.train;
  const stepMs = median(x.wall);
  const busyMs = Array.from({ length: towers }, (_, t) => median(x.busy.map((b) => b[t]!)));
  const exchange = median(x.wall.map((w, s) => w - Math.max(...x.busy[s]!)));
  const maxBusy = Math.max(...busyMs);
  const trainFlops = Array.from({ length: towers }, (_, t) => trainingFlops(plan, t) * batch);
  return {
    towers,
    batch,
    micro_batches: config.train.micro_batches,
    warmup_steps: x.warmup,
    steps: x.wall.length,
    step_ms: round(stepMs, 1),
    images_per_sec: round((batch * 1000) / stepMs, 2),
    busy_ms: busyMs.map((b) => round(b, 1)),
    exchange_ms: round(exchange, 1),
    exchange_share: round(exchange / stepMs, 4),
    waiting_ms: busyMs.map((b) => round(maxBusy - b, 1)),
    coordinator_ms: round(median(x.coordinator), 1),
    data_wait_ms: round(median(x.waits), 1),
    bytes_per_step: x.bytes,
    training_gflop_per_tower_step: trainFlops.map((f) => round(f / 1e9, 2)),
    gflops_per_tower: trainFlops.map((f) => round(f / stepMs / 1e6, 1)),
    layers: layerRows(session, batch, x),
  };
}

/** Per layer and tower: median forward and backward ms, and the GFLOP/s they imply (conv and dense). */
function layerRows(session: Session, batch: number, x: Samples): LayerRow[] {
  const { plan, towers } = session;
  const flops = Array.from({ length: towers }, (_, t) => towerFlops(plan, t));
  const perLayer = (xs: number[][][], t: number, i: number): number => median(xs.map((s) => s[t]![i]!));
  const gflops = (f: number, ms: number): number | null => (ms > 0 ? round((f * batch) / ms / 1e6, 1) : null);
  return plan.layers.map((p, i) => {
    const heavy = p.layer.spec.kind === 'conv' || p.layer.spec.kind === 'dense';
    const fms = Array.from({ length: towers }, (_, t) => round(perLayer(x.forward, t, i)));
    const bms = Array.from({ length: towers }, (_, t) => round(perLayer(x.backward, t, i)));
    return {
      name: p.layer.name,
      kind: p.layer.spec.kind,
      forward_ms: fms,
      backward_ms: bms,
      forward_gflops: fms.map((ms, t) => (heavy ? gflops(flops[t]![i]!.forward, ms) : null)),
      backward_gflops: bms.map((ms, t) => (heavy ? gflops(flops[t]![i]!.backward, ms) : null)),
    };
  });
}

/**
 * The exchange alone: towers started with `compute: 'none'` answer every request at once with zeros of the
 * right shapes, so a step is the wire, the coordinator's work and the scheduling, at this config and batch.
 */
export async function measureWire(config: Config, towers: number, batch: number, warmup: number, steps: number, links: Links = {}): Promise<WireStats> {
  const log = pino({ level: 'silent' });
  const devices = Array.from({ length: towers }, (_, i) => String(i));
  const c: Config = { ...config, train: { ...config.train, batch } };
  const session = await Session.start({ config: c, devices, backend: 'wasm', gpu: false, log, compute: 'none', ...links });
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
