/**
 * What the train loop counts between its log lines: the window of steps since the last line (its rates and
 * the towers' busy time) and the running means of the epoch, for progress bars.
 */
import type { StepMetrics } from './train.js';

/** The steps since the last log line; time spent off the training clock (evaluation, checkpoints) is left out. */
export class StepWindow {
  /** The last `size` losses: a log line's loss is their mean. */
  readonly recent: number[] = [];
  private start = performance.now();
  private correct = 0;
  private images = 0;
  private wait = 0;
  private steps = 0;

  constructor(private readonly size: number) {}

  add(loss: number, correct: number, images: number, waitMs: number): void {
    this.recent.push(loss);
    if (this.recent.length > this.size) this.recent.shift();
    this.correct += correct;
    this.images += images;
    this.wait += waitMs;
    this.steps++;
  }

  get empty(): boolean {
    return this.images === 0;
  }

  get meanLoss(): number {
    return this.recent.length ? this.recent.reduce((a, b) => a + b, 0) / this.recent.length : Number.NaN;
  }

  /** Start the window's clock now (training begins). */
  restart(): void {
    this.start = performance.now();
  }

  /** Move the window's start past `ms` spent off the training clock. */
  pause(ms: number): void {
    this.start += ms;
  }

  /** The window's line, given each tower's busy time over it; the window starts again. */
  close(line: Pick<StepMetrics, 'run' | 'step' | 'epoch' | 'lr'>, busyTotal: readonly number[]): StepMetrics {
    const now = performance.now();
    const stepMs = (now - this.start) / this.steps;
    const wait = this.wait / this.steps;
    const busy = busyTotal.map((b) => b / this.steps);
    const most = Math.max(...busy);
    const m: StepMetrics = {
      kind: 'step',
      ...line,
      loss: this.meanLoss,
      accuracy: this.correct / this.images,
      images_per_sec: this.images / ((now - this.start) / 1000),
      data_wait_ms: wait,
      step_ms: stepMs,
      busy_ms: busy,
      exchange_ms: Math.max(0, stepMs - most - wait),
      waiting_ms: busy.map((b) => most - b),
    };
    this.start = now;
    this.correct = 0;
    this.images = 0;
    this.wait = 0;
    this.steps = 0;
    return m;
  }
}

/** The training loss and accuracy of the epoch so far. */
export class EpochMeans {
  private epoch = -1;
  private steps = 0;
  private lossSum = 0;
  private correct = 0;
  private images = 0;

  add(epoch: number, loss: number, correct: number, images: number): void {
    if (epoch !== this.epoch) {
      this.epoch = epoch;
      this.steps = 0;
      this.lossSum = 0;
      this.correct = 0;
      this.images = 0;
    }
    this.steps++;
    this.lossSum += loss;
    this.correct += correct;
    this.images += images;
  }

  get loss(): number {
    return this.lossSum / this.steps;
  }

  get accuracy(): number {
    return this.correct / this.images;
  }
}
