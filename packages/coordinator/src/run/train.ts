/**
 * The train loop, top to bottom: launch, then per step (the batch the loader threads made ahead, forward/
 * backward/update across towers, log), an evaluation every `eval.every` epochs that drives the learning-rate
 * schedule, checkpoints, and the final evaluation. One loop serves the split run and the single-tower baseline.
 */
import type { BackendChoice, Config } from '@alexnet/core';
import { permutation, uniformAt } from '@alexnet/core';
import type { Logger } from 'pino';
import { type Data, Loader, Prefetch } from '../data/index.js';
import { type Listener, Session } from '../towers/session.js';
import { addTiming, type StepTiming } from '../towers/step.js';
import type { Checkpoint } from './checkpoint.js';
import type { EvalResult } from './evaluate.js';
import { EpochMeans } from './meters.js';
import { TrainRun } from './train_run.js';

export interface TrainOptions {
  config: Config;
  data: Data;
  devices: string[];
  backend: BackendChoice;
  gpu: boolean;
  steps: number;
  log: Logger;
  /** Where the per-window step lines go (default: `log`). */
  stepLog?: Logger;
  /** `split`, `baseline` or `half`, to tell the runs apart in logs and metrics. */
  run: string;
  onStep?: (m: StepMetrics) => void;
  onEval?: (m: EvalMetrics) => void;
  onTick?: ((t: Tick) => void) | undefined;
  onReady?: (s: Session) => void;
  /** Write a checkpoint into `dir` every `every` steps and at the end. */
  checkpoint?: { dir: string; every: number };
  /** Continue from this checkpoint (its step, weights, optimizer and schedule state). */
  resume?: Checkpoint;
  /** A tower silent (no heartbeat) this long is declared hung. */
  heartbeatTimeoutMs?: number;
  /** Towers on other hosts (--listen): they connect to this link instead of being spawned. */
  listener?: Listener;
}

/** One logged window of steps (`log_every`): means per step over the window. */
export interface StepMetrics {
  kind: 'step';
  run: string;
  step: number;
  /** 1-based: the epoch the window ended in. */
  epoch: number;
  loss: number;
  accuracy: number;
  lr: number;
  images_per_sec: number;
  /** Mean ms per step the train loop waited for the loader threads' batches. */
  data_wait_ms: number;
  /** Wall time per step. */
  step_ms: number;
  /** Per tower: time spent computing (handling requests) per step. */
  busy_ms: number[];
  /**
   * Step time during which even the busiest tower was not computing, less the wait for data: activations
   * and gradients on the wire or at the coordinator (with one tower: the coordinator's own work).
   */
  exchange_ms: number;
  /** Per tower: the busiest tower's busy time minus its own (load imbalance). */
  waiting_ms: number[];
}

/** Every step, for progress bars. */
export interface Tick {
  run: string;
  /** The epoch (1-based) of `epochs`, and `inEpoch` of its `perEpoch` steps done. */
  epoch: number;
  epochs: number;
  inEpoch: number;
  perEpoch: number;
  /** Mean training loss and accuracy over the epoch so far. */
  loss: number;
  accuracy: number;
}

export interface EvalMetrics extends EvalResult {
  run: string;
  kind: 'eval';
  step: number;
  /** 1-based: the epoch of the last step trained before it (as in step lines). */
  epoch: number;
  /** The rate the last step trained with (before this evaluation's effect on the schedule). */
  lr: number;
}

export interface RunResult {
  run: string;
  towers: number;
  steps: number;
  batch: number;
  backend: string;
  device: string;
  images_per_sec: number;
  train_seconds: number;
  /** Mean training loss over the last `log_every` steps. */
  final_loss: number;
  test_loss: number;
  test_accuracy: number;
  top1_error: number;
  top5_error: number;
  /** Views per validation image: 1 (centre) or 10. */
  crops: number;
  /** Coordinator-side time per step, ms (the pipelined pass, update, loss, exchange work, waiting for data). */
  step_ms: StepTiming;
}

/** How many steps to run: --steps, else --epochs, else train.steps, else train.epochs (default 1 epoch). */
export function stepsFor(config: Config, trainCount: number, steps?: number, epochs?: number): number {
  const perEpoch = Math.max(1, Math.floor(trainCount / config.train.batch));
  if (steps) return steps;
  if (epochs) return epochs * perEpoch;
  if (config.train.steps) return config.train.steps;
  return (config.train.epochs ?? 1) * perEpoch;
}

/** The RNG stream of the data order. */
const ORDER_STREAM = 0x6f720001;
/** The data order of an epoch: a permutation seeded by (seed, epoch), so a resumed run sees the same batches and no two runs' orders coincide. */
export const orderOf = (count: number, seed: number, epoch: number): Uint32Array => permutation(count, Math.floor(uniformAt(seed, ORDER_STREAM, epoch) * 2 ** 32));

export async function train(opts: TrainOptions): Promise<RunResult> {
  const { config, data, steps } = opts;
  const labelsOf = data.source.train.labels;
  const session = await startSession(opts);
  // Towers that can read the store render their own batches; this process's loader threads serve the rest.
  const loader = new Loader(data.source.train, data.source.test, data.spec, session.rendering ? 1 : config.data.workers);
  const stop = (): void => {
    session.abort();
    process.exit(130);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const run = new TrainRun(opts, session, session.batches(loader));
    await run.begin();
    // the loader threads make the next `prefetch` batches while the towers compute this one
    const prefetch = new Prefetch(run.batches, run.indicesOf, config.train.batch, config.data.prefetch, steps);
    const epochMeans = new EpochMeans();
    for (let step = run.first; step < steps; step++) {
      // batch
      const epoch = run.epochOf(step);
      const { images, waitMs } = await prefetch.take(step);
      const labels = Int32Array.from(run.indicesOf(step), (i) => labelsOf[i]!);
      const lr = run.schedule.lr(epoch);

      // step: forward, loss, backward, update; every tower, every exchange
      const { loss, correct, timing } = await session.trainStep(step, images, labels, lr);
      if (!Number.isFinite(loss)) throw new Error(`loss is ${loss} at step ${step}: lower train.optimizer.lr`);

      // log
      const done = step + 1;
      addTiming(run.timing, { ...timing, data: waitMs });
      run.window.add(loss, correct, labels.length, waitMs);
      epochMeans.add(epoch, loss, correct, labels.length);
      opts.onTick?.(run.tick(step, epochMeans));
      if ((done % config.train.log_every === 0 || done === steps) && !run.window.empty) run.logWindow(done, lr);

      // eval and checkpoint: validation error at the end of every `eval.every`-th epoch feeds the schedule
      if (run.evaluates(done)) await run.evaluate(done, true);
      if (run.checkpoints(done)) await run.save(done);
    }
    const result = await run.finish();
    await session.close();
    return result;
  } catch (e) {
    session.abort();
    throw session.deathCause ?? e;
  } finally {
    await loader.close();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/** Launch (or await) the run's towers; a refusal by `onReady` sends them away before training. */
async function startSession(opts: TrainOptions): Promise<Session> {
  const session = await Session.start({
    config: opts.config,
    devices: opts.devices,
    backend: opts.backend,
    gpu: opts.gpu,
    log: opts.log,
    data: opts.data,
    ...(opts.heartbeatTimeoutMs ? { heartbeatTimeoutMs: opts.heartbeatTimeoutMs } : {}),
    ...(opts.listener ? { listener: opts.listener } : {}),
  });
  try {
    opts.onReady?.(session);
  } catch (e) {
    // Spawned towers go; towers on other hosts are told to rejoin, so a coordinator that an orchestrator
    // restarts finds them again and says why once more, instead of waiting for them.
    if (opts.listener) session.abort();
    else await session.close();
    throw e;
  }
  return session;
}
