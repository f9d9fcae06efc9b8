/**
 * The train loop, top to bottom: launch, then per step (the batch the loader threads made ahead, forward/
 * backward/update across towers, log), an evaluation every `eval.every` epochs that drives the learning-rate
 * schedule, checkpoints, and the final evaluation. One loop serves the split run and the single-tower baseline.
 */
import type { BackendChoice, Config } from '@alexnet/core';
import { permutation, uniformAt } from '@alexnet/core';
import type { Logger } from 'pino';
import { type Checkpoint, writeCheckpoint } from './checkpoint.js';
import { type Data, Loader, Prefetch } from './data/index.js';
import { type EvalResult, evaluate } from './evaluate.js';
import { Schedule } from './schedule.js';
import { type Listener, Session } from './session.js';
import { addTiming, type StepTiming } from './step.js';

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
  const { config, data, log } = opts;
  const { source } = data;
  const { batch, seed, log_every: logEvery } = config.train;
  const evalEvery = config.eval.every;
  const session = await Session.start({
    config,
    devices: opts.devices,
    backend: opts.backend,
    gpu: opts.gpu,
    log,
    data,
    ...(opts.heartbeatTimeoutMs ? { heartbeatTimeoutMs: opts.heartbeatTimeoutMs } : {}),
    ...(opts.listener ? { listener: opts.listener } : {}),
  });
  try {
    opts.onReady?.(session);
  } catch (e) {
    // Refused before training. Spawned towers go; towers on other hosts are told to rejoin, so a coordinator
    // that an orchestrator restarts finds them again and says why once more, instead of waiting for them.
    if (opts.listener) session.abort();
    else await session.close();
    throw e;
  }
  // Towers that can read the store render their own batches; this process's loader threads serve the rest.
  const loader = new Loader(source.train, source.test, data.spec, session.rendering ? 1 : config.data.workers);
  const batches = session.batches(loader);
  const first = opts.resume?.step ?? 0;
  const schedule = new Schedule(config.train.schedule, config.train.optimizer.lr, opts.resume?.schedule);
  const stop = (): void => {
    session.abort();
    process.exit(130);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    if (opts.resume) {
      await session.load(opts.resume.tensors);
      log.info({ step: first }, `${opts.run}: resumed at step ${first}`);
    }
    const perEpoch = Math.max(1, Math.floor(source.train.count / batch));
    const save = async (done: number): Promise<void> => {
      if (!opts.checkpoint) return;
      const file = writeCheckpoint(opts.checkpoint.dir, {
        step: done,
        epoch: Math.floor(done / perEpoch),
        config,
        schedule: schedule.state,
        tensors: await session.fullWeights(true),
      });
      log.info({ step: done, file }, `${opts.run}: checkpoint at step ${done}`);
    };
    // the loader threads make the next `prefetch` batches while the towers compute this one
    const orders = new Map<number, Uint32Array>();
    const indicesOf = (step: number): Uint32Array => {
      const epoch = Math.floor(step / perEpoch);
      if (!orders.has(epoch)) orders.set(epoch, orderOf(source.train.count, seed, epoch));
      orders.delete(epoch - 2);
      const j = step % perEpoch;
      return orders.get(epoch)!.subarray(j * batch, (j + 1) * batch);
    };
    const prefetch = new Prefetch(batches, indicesOf, batch, config.data.prefetch, opts.steps);
    const timing: StepTiming = { pass: 0, update: 0, loss: 0, exchange: 0, data: 0 };
    const recent: number[] = [];
    let windowStart = performance.now();
    let windowCorrect = 0;
    let windowImages = 0;
    let windowWait = 0;
    let windowSteps = 0;
    const soFar = { epoch: -1, steps: 0, loss: 0, correct: 0, images: 0 };
    session.resetStats();
    let pausedMs = 0;
    /** Run `work` off the training clock: images/s and the time breakdown count training only. */
    const offClock = async <T>(work: () => Promise<T>): Promise<T> => {
      const t = performance.now();
      const busy = session.stats.busy.slice();
      try {
        return await work();
      } finally {
        const took = performance.now() - t;
        session.stats.busy.splice(0, busy.length, ...busy);
        pausedMs += took;
        windowStart += took;
      }
    };
    let last: (EvalResult & { step: number }) | undefined;
    /** Evaluate after `done` steps; a scheduled evaluation (an epoch's end) also feeds the schedule. */
    const runEval = async (done: number, scheduled: boolean): Promise<void> => {
      const r = await offClock(() => evaluate(session, batches, source, batch, config.eval.crops, config.data.prefetch));
      last = { ...r, step: done };
      const epoch = Math.floor((done - 1) / perEpoch); // the epoch of the last step trained (0-based)
      const m: EvalMetrics = { run: opts.run, kind: 'eval', step: done, epoch: epoch + 1, lr: schedule.lr(epoch), ...r };
      log.info(
        m,
        `${opts.run} eval at step ${done}: top-1 error ${(r.top1_error * 100).toFixed(2)}%, top-5 ${(r.top5_error * 100).toFixed(2)}% (${r.crops} crop${r.crops > 1 ? 's' : ''})`,
      );
      opts.onEval?.(m);
      // The final report of a run stopped mid-epoch is not observed: a run resumed from its checkpoint must
      // hold the schedule state an uninterrupted run has there.
      const dropped = scheduled ? schedule.observe(r.top1_error) : undefined;
      if (dropped !== undefined) log.info({ lr: dropped, drops: schedule.state.drops }, `${opts.run}: validation error stopped improving; learning rate now ${dropped}`);
    };
    const t0 = performance.now();
    for (let step = first; step < opts.steps; step++) {
      const epoch = Math.floor(step / perEpoch);
      const { images, waitMs: wait } = await prefetch.take(step);
      timing.data += wait;
      windowWait += wait;
      const labels = Int32Array.from(indicesOf(step), (i) => source.train.labels[i]!);
      const lr = schedule.lr(epoch);
      // forward, loss, backward, update: every tower, every exchange
      const { loss, correct, timing: took } = await session.trainStep(step, images, labels, lr);
      addTiming(timing, took);
      if (!Number.isFinite(loss)) throw new Error(`loss is ${loss} at step ${step}: lower train.optimizer.lr`);
      recent.push(loss);
      if (recent.length > logEvery) recent.shift();
      windowCorrect += correct;
      windowImages += labels.length;
      windowSteps++;
      if (soFar.epoch !== epoch) Object.assign(soFar, { epoch, steps: 0, loss: 0, correct: 0, images: 0 });
      soFar.steps++;
      soFar.loss += loss;
      soFar.correct += correct;
      soFar.images += labels.length;
      const inEpoch = step - epoch * perEpoch + 1;
      opts.onTick?.({
        run: opts.run,
        epoch: epoch + 1,
        epochs: Math.ceil(opts.steps / perEpoch),
        inEpoch,
        perEpoch: Math.min(perEpoch, opts.steps - epoch * perEpoch),
        loss: soFar.loss / soFar.steps,
        accuracy: soFar.correct / soFar.images,
      });
      const done = step + 1;
      if ((done % logEvery === 0 || done === opts.steps) && windowImages > 0) {
        const now = performance.now();
        const stepMs = (now - windowStart) / windowSteps;
        const busy = session.stats.busy.map((b) => b / windowSteps);
        const most = Math.max(...busy);
        const m: StepMetrics = {
          kind: 'step',
          run: opts.run,
          step: done,
          epoch: epoch + 1,
          loss: recent.reduce((a, b) => a + b, 0) / recent.length,
          accuracy: windowCorrect / windowImages,
          lr,
          images_per_sec: windowImages / ((now - windowStart) / 1000),
          data_wait_ms: windowWait / windowSteps,
          step_ms: stepMs,
          busy_ms: busy,
          exchange_ms: Math.max(0, stepMs - most - windowWait / windowSteps),
          waiting_ms: busy.map((b) => most - b),
        };
        (opts.stepLog ?? log).info(m, `${opts.run} step ${m.step}/${opts.steps}`);
        opts.onStep?.(m);
        windowStart = now;
        windowCorrect = 0;
        windowImages = 0;
        windowWait = 0;
        windowSteps = 0;
        session.resetStats();
      }
      // the end of every `eval.every`-th epoch: validation error, which the plateau schedule watches
      if (done % perEpoch === 0 && (done / perEpoch) % evalEvery === 0) await runEval(done, true);
      if (opts.checkpoint && done % opts.checkpoint.every === 0 && done < opts.steps) await offClock(() => save(done));
    }
    const trainSeconds = (performance.now() - t0 - pausedMs) / 1000;
    if (last?.step !== opts.steps) await runEval(opts.steps, false);
    await save(opts.steps);
    const ran = Math.max(1, opts.steps - first);
    const r = session.readies[0]!;
    const ev = last!;
    const result: RunResult = {
      run: opts.run,
      towers: session.towers,
      steps: opts.steps,
      batch,
      backend: r.backend,
      device: r.device,
      images_per_sec: (ran * batch) / trainSeconds,
      train_seconds: trainSeconds,
      final_loss: recent.length ? recent.reduce((a, b) => a + b, 0) / recent.length : Number.NaN,
      test_loss: ev.loss,
      test_accuracy: 1 - ev.top1_error,
      top1_error: ev.top1_error,
      top5_error: ev.top5_error,
      crops: ev.crops,
      step_ms: { pass: timing.pass / ran, update: timing.update / ran, loss: timing.loss / ran, exchange: timing.exchange / ran, data: timing.data / ran },
    };
    log.info(result, `${opts.run}: top-1 error ${(ev.top1_error * 100).toFixed(2)}%, top-5 ${(ev.top5_error * 100).toFixed(2)}%`);
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
