/** What the split is measured against: plain TF.js (tf.sequential + model.fit) and the wasm kernels' best. */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { type Config, initBackend } from '@alexnet/core';
import * as tf from '@tensorflow/tfjs';
import { median, round } from './stats.js';

export interface FitResult {
  config: string;
  backend: string;
  batch: number;
  ok: boolean;
  images_per_sec?: number;
  step_ms?: number[];
  error?: string;
}

/** tf.sequential + model.fit in a fresh process (plain TF.js: none of our kernels registered). */
export async function fit(name: string, config: Config, backend: string, batch: number, steps: number): Promise<FitResult> {
  const dir = mkdtempSync(join(tmpdir(), 'alexnet-fit-'));
  try {
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify(config));
    const script = resolve(import.meta.dirname, 'fit.js');
    const { stdout } = await promisify(execFile)(process.execPath, [script, file, backend, String(batch), String(steps)], { maxBuffer: 1 << 20, timeout: 20 * 60_000 });
    const r = JSON.parse(stdout.trim().split('\n').pop()!) as { ok: boolean; step_ms?: number[]; error?: string };
    // The first step carries one-time costs: use the later ones when there are any.
    const ms = r.step_ms && r.step_ms.length > 1 ? median(r.step_ms.slice(1)) : r.step_ms?.[0];
    const base = { config: name, backend, batch, ok: r.ok };
    if (r.ok && ms) return { ...base, images_per_sec: (batch * 1000) / ms, step_ms: r.step_ms!.map((x) => round(x, 0)) };
    return r.error === undefined ? base : { ...base, error: r.error };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The best the wasm kernels do on one core: a 1024³ matmul and a conv2-shaped forward convolution. */
export async function machineLimit(): Promise<{ matmul_gflops: number; conv_gflops: number; best_gflops: number }> {
  await initBackend('wasm', false);
  const time = (f: () => tf.Tensor, flop: number): number => {
    for (let i = 0; i < 2; i++) f().dispose();
    const ms: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      f().dispose();
      ms.push(performance.now() - t0);
    }
    return round(flop / median(ms) / 1e6, 1);
  };
  const a = tf.randomNormal([1024, 1024]);
  const b = tf.randomNormal([1024, 1024]);
  const x = tf.randomNormal([16, 27, 27, 48]);
  const w = tf.randomNormal([5, 5, 48, 128]);
  const matmul = time(() => tf.matMul(a, b), 2 * 1024 ** 3);
  const conv = time(() => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'), 2 * 16 * 27 * 27 * 128 * 5 * 5 * 48);
  tf.dispose([a, b, x, w]);
  // The matmul reading swings (13.9 to 33.7 seen here on the same VM) more than the conv's (30 to 36).
  return { matmul_gflops: matmul, conv_gflops: conv, best_gflops: Math.max(matmul, conv) };
}
