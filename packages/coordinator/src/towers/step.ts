/** What one training step gives back, and the sums the train loop keeps of them. */

/** What the towers reported since the last reset: busy time and, when profiling, per-layer time (ms). */
export interface TowerStats {
  /** Per tower: time spent handling requests (compute and encoding its replies). */
  busy: number[];
  /** Per tower, per layer index: forward and backward time. */
  forward: number[][];
  backward: number[][];
}

export interface StepResult {
  loss: number;
  correct: number;
  timing: StepTiming;
}

/** Where a step's time went, as seen from the coordinator (ms). */
export interface StepTiming {
  /** The pipelined forward and backward of all micro-batches. */
  pass: number;
  update: number;
  loss: number;
  /** Coordinator work between replies and the requests they trigger (sums, concatenation, slicing, loss). */
  exchange: number;
  /** Waiting for the loader threads' batch (0 when they keep ahead). */
  data: number;
}

/** Add one step's timing into a sum. */
export function addTiming(sum: StepTiming, t: StepTiming): void {
  sum.pass += t.pass;
  sum.update += t.update;
  sum.loss += t.loss;
  sum.exchange += t.exchange;
  sum.data += t.data;
}
