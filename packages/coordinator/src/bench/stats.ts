/** What the bench measures and how it reduces samples: the shapes of its JSON, medians, bytes per process. */
import type { Session } from '../towers/session.js';

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
export const round = (x: number, d = 2): number => Number(x.toFixed(d));

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
export function perProcess(b0: Bytes, b1: Bytes, steps: number, minimum: number): RunStats['bytes_per_step'] {
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
