/**
 * The state one training run carries between steps, and the work the loop does besides the step itself:
 * the data order, the schedule, evaluation and checkpoints off the training clock, and the final result.
 */
import type { BatchSource } from '@alexnet/core';
import type { Images, Session } from '../towers/session.js';
import type { StepTiming } from '../towers/step.js';
import { writeCheckpoint } from './checkpoint.js';
import { type EvalResult, evaluate } from './evaluate.js';
import { StepWindow } from './meters.js';
import { Schedule } from './schedule.js';
import { type EvalMetrics, orderOf, type RunResult, type Tick, type TrainOptions } from './train.js';

export class TrainRun {
  readonly first: number;
  readonly perEpoch: number;
  readonly schedule: Schedule;
  /** Coordinator-side time of every step trained, summed (the result's per-step means). */
  readonly timing: StepTiming = { pass: 0, update: 0, loss: 0, exchange: 0, data: 0 };
  readonly window: StepWindow;
  private readonly orders = new Map<number, Uint32Array>();
  private started = performance.now();
  private pausedMs = 0;
  private last: (EvalResult & { step: number }) | undefined;

  constructor(
    private readonly opts: TrainOptions,
    private readonly session: Session,
    readonly batches: BatchSource<Images>,
  ) {
    const { train } = opts.config;
    this.first = opts.resume?.step ?? 0;
    this.perEpoch = Math.max(1, Math.floor(opts.data.source.train.count / train.batch));
    this.schedule = new Schedule(train.schedule, train.optimizer.lr, opts.resume?.schedule);
    this.window = new StepWindow(train.log_every);
  }

  /** Load the checkpoint being resumed from, if any, and start the training clock. */
  async begin(): Promise<void> {
    if (this.opts.resume) {
      await this.session.load(this.opts.resume.tensors);
      this.opts.log.info({ step: this.first }, `${this.opts.run}: resumed at step ${this.first}`);
    }
    this.session.resetStats();
    this.started = performance.now();
    this.window.restart();
  }

  epochOf(step: number): number {
    return Math.floor(step / this.perEpoch);
  }

  /** The sample indices of a step's batch: its epoch's seeded order, cut into batches. */
  readonly indicesOf = (step: number): Uint32Array => {
    const epoch = this.epochOf(step);
    const { count } = this.opts.data.source.train;
    if (!this.orders.has(epoch)) this.orders.set(epoch, orderOf(count, this.opts.config.train.seed, epoch));
    this.orders.delete(epoch - 2);
    const { batch } = this.opts.config.train;
    const j = step % this.perEpoch;
    return this.orders.get(epoch)!.subarray(j * batch, (j + 1) * batch);
  };

  /** The progress bars' view of the step just trained. */
  tick(step: number, means: { loss: number; accuracy: number }): Tick {
    const epoch = this.epochOf(step);
    const { steps } = this.opts;
    return {
      run: this.opts.run,
      epoch: epoch + 1,
      epochs: Math.ceil(steps / this.perEpoch),
      inEpoch: step - epoch * this.perEpoch + 1,
      perEpoch: Math.min(this.perEpoch, steps - epoch * this.perEpoch),
      // read each getter: a class instance spreads none of them
      loss: means.loss,
      accuracy: means.accuracy,
    };
  }

  /** Whether `done` steps end an epoch that is evaluated (every `eval.every`-th). */
  evaluates(done: number): boolean {
    return done % this.perEpoch === 0 && (done / this.perEpoch) % this.opts.config.eval.every === 0;
  }

  /** Whether a checkpoint is due after `done` steps (the last one is written by `finish`). */
  checkpoints(done: number): boolean {
    const c = this.opts.checkpoint;
    return c !== undefined && done % c.every === 0 && done < this.opts.steps;
  }

  /** Write the log line of the window ending after `done` steps, trained at rate `lr`. */
  logWindow(done: number, lr: number): void {
    const m = this.window.close({ run: this.opts.run, step: done, epoch: this.epochOf(done - 1) + 1, lr }, this.session.stats.busy);
    (this.opts.stepLog ?? this.opts.log).info(m, `${this.opts.run} step ${m.step}/${this.opts.steps}`);
    this.opts.onStep?.(m);
    this.session.resetStats();
  }

  /** Evaluate after `done` steps; a scheduled evaluation (an epoch's end) also feeds the schedule. */
  async evaluate(done: number, scheduled: boolean): Promise<void> {
    const { config, data, log, run } = this.opts;
    const { batch } = config.train;
    const r = await this.offClock(() => evaluate(this.session, this.batches, data.source, batch, config.eval.crops, config.data.prefetch));
    this.last = { ...r, step: done };
    const epoch = this.epochOf(done - 1); // the epoch of the last step trained
    const m: EvalMetrics = { run, kind: 'eval', step: done, epoch: epoch + 1, lr: this.schedule.lr(epoch), ...r };
    const crops = `${r.crops} crop${r.crops > 1 ? 's' : ''}`;
    log.info(m, `${run} eval at step ${done}: top-1 error ${(r.top1_error * 100).toFixed(2)}%, top-5 ${(r.top5_error * 100).toFixed(2)}% (${crops})`);
    this.opts.onEval?.(m);
    // The final report of a run stopped mid-epoch is not observed: a run resumed from its checkpoint must
    // hold the schedule state an uninterrupted run has there.
    const dropped = scheduled ? this.schedule.observe(r.top1_error) : undefined;
    if (dropped !== undefined) log.info({ lr: dropped, drops: this.schedule.state.drops }, `${run}: validation error stopped improving; learning rate now ${dropped}`);
  }

  /** Write a checkpoint of the state after `done` steps (off the training clock). */
  async save(done: number): Promise<void> {
    const c = this.opts.checkpoint;
    if (!c) return;
    await this.offClock(async () => {
      const tensors = await this.session.fullWeights(true);
      const file = writeCheckpoint(c.dir, { step: done, epoch: Math.floor(done / this.perEpoch), config: this.opts.config, schedule: this.schedule.state, tensors });
      this.opts.log.info({ step: done, file }, `${this.opts.run}: checkpoint at step ${done}`);
    });
  }

  /** After the last step: the final evaluation (unless the last step had one), the last checkpoint, the result. */
  async finish(): Promise<RunResult> {
    const trainSeconds = (performance.now() - this.started - this.pausedMs) / 1000;
    const { steps, run, config } = this.opts;
    if (this.last?.step !== steps) await this.evaluate(steps, false);
    await this.save(steps);
    const ran = Math.max(1, steps - this.first);
    const r = this.session.readies[0]!;
    const ev = this.last!;
    const t = this.timing;
    const result: RunResult = {
      run,
      towers: this.session.towers,
      steps,
      batch: config.train.batch,
      backend: r.backend,
      device: r.device,
      images_per_sec: (ran * config.train.batch) / trainSeconds,
      train_seconds: trainSeconds,
      final_loss: this.window.meanLoss,
      test_loss: ev.loss,
      test_accuracy: 1 - ev.top1_error,
      top1_error: ev.top1_error,
      top5_error: ev.top5_error,
      crops: ev.crops,
      step_ms: { pass: t.pass / ran, update: t.update / ran, loss: t.loss / ran, exchange: t.exchange / ran, data: t.data / ran },
    };
    this.opts.log.info(result, `${run}: top-1 error ${(ev.top1_error * 100).toFixed(2)}%, top-5 ${(ev.top5_error * 100).toFixed(2)}%`);
    return result;
  }

  /** Run `work` off the training clock: images/s and the time breakdown count training only. */
  private async offClock<T>(work: () => Promise<T>): Promise<T> {
    const t = performance.now();
    const busy = this.session.stats.busy.slice();
    try {
      return await work();
    } finally {
      const took = performance.now() - t;
      this.session.stats.busy.splice(0, busy.length, ...busy);
      this.pausedMs += took;
      this.window.pause(took);
    }
  }
}
