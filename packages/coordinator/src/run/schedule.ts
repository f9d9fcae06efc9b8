/**
 * The learning rate over a run. `plateau` is the paper's: "divide the learning rate by 10 when the
 * validation error rate stopped improving", here after `patience` evaluations without an improvement of
 * at least `min_delta`, at most `max_drops` times. Its state is small and goes into every checkpoint.
 */
import type { ScheduleSpec } from '@alexnet/core';

export interface ScheduleState {
  /** The current rate (plateau; the others derive it from the epoch). */
  lr: number;
  /** Best validation top-1 error so far, and evaluations since it last improved. */
  best: number | null;
  stale: number;
  drops: number;
}

export class Schedule {
  state: ScheduleState;

  constructor(
    private readonly spec: ScheduleSpec,
    private readonly base: number,
    state?: ScheduleState,
  ) {
    this.state = state ? { ...state } : { lr: base, best: null, stale: 0, drops: 0 };
  }

  /** The rate for a step in `epoch` (0-based). */
  lr(epoch: number): number {
    if (this.spec.kind === 'step') return this.base * this.spec.factor ** Math.floor(epoch / this.spec.every);
    return this.spec.kind === 'plateau' ? this.state.lr : this.base;
  }

  /** Record a validation error; returns the new rate if it dropped. */
  observe(error: number): number | undefined {
    const s = this.state;
    const improved = s.best === null || error < s.best - (this.spec.kind === 'plateau' ? this.spec.min_delta : 0);
    if (improved) {
      s.best = error;
      s.stale = 0;
      return undefined;
    }
    s.stale++;
    if (this.spec.kind !== 'plateau' || s.stale < this.spec.patience || s.drops >= this.spec.max_drops) return undefined;
    s.lr *= this.spec.factor;
    s.drops++;
    s.stale = 0;
    return s.lr;
  }
}
