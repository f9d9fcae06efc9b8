/**
 * What a step would take on another device: the layer table's FLOPs at the device's training FLOP/s, and
 * the exchange as `npm run bench -- --compute none` measured it on this machine (the wire alone, same
 * config, batch and tower count). Micro-batches overlap one's exchange with another's compute, so a step
 * is the longer of the two plus the shorter one's share of a single micro-batch (the pipeline's fill):
 *
 *     step = max(compute, wire) + min(compute, wire) / micro_batches
 *
 * The wire is this machine's loopback (host memory, ZeroMQ); a GPU tower also copies its activations
 * between device and host, which this does not count. Peak fp32 figures are the vendors'; how much of
 * the peak a training step turns into counted FLOPs is EFFICIENCY.
 */
import { type Plan, trainingFlops } from '@alexnet/core';

export interface Device {
  name: string;
  /** Peak fp32 TFLOP/s. */
  fp32_tflops: number;
  source: string;
}

/**
 * Counted training FLOP/s as a share of fp32 peak. The one measured point: convnet-benchmarks
 * (soumith/convnet-benchmarks, cuDNN fp32 on a Maxwell Titan X) trains its AlexNet (conv 64-192-384-256-256,
 * 1.43 GFLOP forward per image by this repository's count) at ~1,580 images/s: 3 × 1.43 × 1,580 =
 * 6.8 TFLOP/s, 1.1× the card's 6.14 peak, because cuDNN's FFT and Winograd convolutions do less arithmetic
 * than the direct count. Taken as 1.0: a device trains at its fp32 peak of counted FLOPs.
 */
export const EFFICIENCY = 1.0;

export const DEVICES: readonly Device[] = [
  { name: 'GTX 580', fp32_tflops: 1.58, source: "NVIDIA: 512 CUDA cores × 1544 MHz × 2 (the paper's GPU)" },
  { name: 'Titan X (Maxwell)', fp32_tflops: 6.14, source: 'NVIDIA: 3072 CUDA cores × 1000 MHz × 2' },
  { name: 'V100 SXM2', fp32_tflops: 15.7, source: 'NVIDIA Tesla V100 datasheet' },
  { name: 'A100 SXM4', fp32_tflops: 19.5, source: 'NVIDIA A100 datasheet (fp32, not TF32)' },
  { name: 'H100 SXM5', fp32_tflops: 66.9, source: 'NVIDIA H100 datasheet (fp32)' },
];

export interface Forecast {
  towers: number;
  compute_ms: number;
  wire_ms: number;
  step_ms: number;
  images_per_sec: number;
}

/** The step of `plan` at `batch` on towers that each train at `flops` FLOP/s, with the wire measured at `wireMs`. */
export function forecast(plan: Plan, batch: number, microBatches: number, flops: number, wireMs: number): Forecast {
  const work = Math.max(...Array.from({ length: plan.towers }, (_, t) => trainingFlops(plan, t))) * batch;
  const compute = (work / flops) * 1000;
  const step = Math.max(compute, wireMs) + Math.min(compute, wireMs) / Math.max(1, microBatches);
  const r = (x: number): number => Number(x.toFixed(2));
  return { towers: plan.towers, compute_ms: r(compute), wire_ms: r(wireMs), step_ms: r(step), images_per_sec: r((batch * 1000) / step) };
}
