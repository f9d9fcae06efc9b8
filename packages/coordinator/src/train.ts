/**
 * The train loop, top to bottom: launch, then per step (data, forward/backward/update across towers, log),
 * then the held-out evaluation. One loop serves the split run and the single-tower baseline.
 */
import type { BackendChoice, Config } from '@alexnet/core';
import { permutation, softmaxCrossEntropy } from '@alexnet/core';
import type { Logger } from 'pino';
import { type Checkpoint, writeCheckpoint } from './checkpoint.js';
import { assemble, type Dataset } from './data/index.js';
import { Session, type StepTiming } from './session.js';

export interface TrainOptions {
  config: Config;
  dataset: Dataset;
  devices: string[];
  backend: BackendChoice;
  gpu: boolean;
  steps: number;
  log: Logger;
  /** `split` or `baseline`, to tell the runs apart in logs and metrics. */
  run: string;
  onStep?: (m: StepMetrics) => void;
  onReady?: (s: Session) => void;
  /** Write a checkpoint into `dir` every `every` steps and at the end. */
  checkpoint?: { dir: string; every: number };
  /** Continue from this checkpoint (its step, weights and momentum). */
  resume?: Checkpoint;
}

export interface StepMetrics {
  run: string;
  step: number;
  epoch: number;
  loss: number;
  accuracy: number;
  images_per_sec: number;
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
  /** Coordinator-side time per step, ms (the pipelined pass, update, loss, exchange work). */
  step_ms: StepTiming;
}

/** How many steps to run: --steps, else --epochs, else train.steps, else train.epochs (default 1 epoch). */
export function stepsFor(config: Config, dataset: Dataset, steps?: number, epochs?: number): number {
  const perEpoch = Math.max(1, Math.floor(dataset.train.count / config.train.batch));
  if (steps) return steps;
  if (epochs) return epochs * perEpoch;
  if (config.train.steps) return config.train.steps;
  return (config.train.epochs ?? 1) * perEpoch;
}

export async function train(opts: TrainOptions): Promise<RunResult> {
  const { config, dataset, log } = opts;
  const { batch, seed, log_every: logEvery } = config.train;
  const lr = config.train.optimizer.lr;
  const session = await Session.start({ config, devices: opts.devices, backend: opts.backend, gpu: opts.gpu, log });
  opts.onReady?.(session);
  const first = opts.resume?.step ?? 0;
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
    const save = async (done: number): Promise<void> => {
      if (!opts.checkpoint) return;
      const file = writeCheckpoint(opts.checkpoint.dir, { step: done, config, tensors: await session.fullWeights(true) });
      log.info({ step: done, file }, `${opts.run}: checkpoint at step ${done}`);
    };
    const perEpoch = Math.max(1, Math.floor(dataset.train.count / batch));
    const timing: StepTiming = { pass: 0, update: 0, loss: 0, exchange: 0 };
    const recent: number[] = [];
    // data: a fresh permutation per epoch, fixed by the seed (so a resumed run sees the same batches)
    const orderOf = (epoch: number): Uint32Array => permutation(dataset.train.count, epoch === 0 ? seed : seed + epoch);
    let order = orderOf(Math.floor(first / perEpoch));
    let windowStart = performance.now();
    let windowCorrect = 0;
    let windowImages = 0;
    const t0 = performance.now();
    for (let step = first; step < opts.steps; step++) {
      const epoch = Math.floor(step / perEpoch);
      const j = step % perEpoch;
      if (j === 0 && step > first) order = orderOf(epoch);
      const { images, labels } = assemble(dataset.train, dataset.shape, order.subarray(j * batch, (j + 1) * batch));
      // forward, loss, backward, update: every tower, every exchange
      const { loss, correct } = await session.trainStep(step, images, labels, lr, timing);
      if (!Number.isFinite(loss)) throw new Error(`loss is ${loss} at step ${step}: lower train.optimizer.lr`);
      recent.push(loss);
      if (recent.length > logEvery) recent.shift();
      windowCorrect += correct;
      windowImages += labels.length;
      // log
      if (opts.checkpoint && (step + 1) % opts.checkpoint.every === 0 && step + 1 < opts.steps) await save(step + 1);
      if ((step + 1) % logEvery === 0 || step + 1 === opts.steps) {
        const now = performance.now();
        const m: StepMetrics = {
          run: opts.run,
          step: step + 1,
          epoch: epoch + 1,
          loss: recent.reduce((a, b) => a + b, 0) / recent.length,
          accuracy: windowCorrect / windowImages,
          images_per_sec: windowImages / ((now - windowStart) / 1000),
        };
        log.info(m, `${opts.run} step ${m.step}/${opts.steps}`);
        opts.onStep?.(m);
        windowStart = now;
        windowCorrect = 0;
        windowImages = 0;
      }
    }
    const trainSeconds = (performance.now() - t0) / 1000;
    await save(opts.steps);
    const ran = Math.max(1, opts.steps - first);
    // evaluate on held-out images (dropout off)
    const { loss: testLoss, accuracy } = await evaluate(session, dataset, batch);
    const r = session.readies[0]!;
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
      test_loss: testLoss,
      test_accuracy: accuracy,
      step_ms: { pass: timing.pass / ran, update: timing.update / ran, loss: timing.loss / ran, exchange: timing.exchange / ran },
    };
    log.info(result, `${opts.run}: test accuracy ${(accuracy * 100).toFixed(2)}%`);
    await session.close();
    return result;
  } catch (e) {
    session.abort();
    throw session.deathCause ?? e;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

export async function evaluate(session: Session, dataset: Dataset, batch: number): Promise<{ loss: number; accuracy: number }> {
  let loss = 0;
  let correct = 0;
  const n = dataset.test.count;
  for (let start = 0; start < n; start += batch) {
    const idx = Array.from({ length: Math.min(batch, n - start) }, (_, i) => start + i);
    const { images, labels } = assemble(dataset.test, dataset.shape, idx);
    const logits = await session.forward(-1, images, labels.length, false);
    const r = softmaxCrossEntropy(logits, labels, dataset.classes);
    loss += r.loss * labels.length;
    correct += r.correct;
  }
  return { loss: loss / n, accuracy: correct / n };
}
