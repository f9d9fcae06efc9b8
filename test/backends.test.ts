/**
 * The backends users get, through the CLI as they run it. tfjs-node and tfjs-node-gpu cannot install on
 * our machines, so:
 *  - a 2-tower run of the small config trains on the tfjs-node contract backend (tfjs-node's rules over
 *    tfjs-backend-cpu's kernels) as it does on wasm;
 *  - a stand-in for tfjs-node-gpu (test/fixtures/tfjs-node-gpu-stand-in: a `tensorflow` backend whose
 *    `isUsingGpuDevice` is false, as when libtensorflow finds no GPU) shows what `--gpus` does with a tower
 *    that lands on the CPU: one line per tower with the reason, and with --backend tensorflow a refusal
 *    before training. The reason is this machine's real one (ours have no NVIDIA driver); the same hook
 *    can make both native packages missing, as where npm could not install them.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CONTRACT_BACKEND } from '@alexnet/core';
import { describe, expect, it } from 'vitest';
import { childrenOf, fixture, root, runCli } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'alexnet-backends-'));
const standIn = { NODE_OPTIONS: `--import=${resolve(root, 'test/fixtures/tfjs-node-gpu-stand-in/register.mjs')}` };
const tiny = ['--config', fixture('tiny.yaml'), '--steps', '4', '--json'];

interface Result {
  device: string;
  backend: string;
  final_loss: number;
}
const steps = (out: string): { step: number; loss: number }[] =>
  readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { kind: string; step: number; loss: number })
    .filter((m) => m.kind === 'step');

/** The log's lines saying a tower is on the CPU (JSON lines on stderr: the run is not on a terminal). */
const onCpuLines = (stderr: string): string[] =>
  stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => (JSON.parse(l) as { msg: string }).msg)
    .filter((m) => / is on the CPU, /.test(m));

describe('--gpus with towers that end on the CPU', () => {
  it('--backend tensorflow: one line per tower with the reason, then the run stops before training', async () => {
    const out = join(dir, 'refused');
    const r = await runCli(['--gpus', '0,1', '--backend', 'tensorflow', ...tiny, '--out', out], 120_000, root, standIn);
    expect(r.code, r.stderr).toBe(1);
    const lines = onCpuLines(r.stderr);
    expect(lines).toHaveLength(2);
    lines.forEach((l, t) =>
      expect(l).toMatch(new RegExp(`^tower ${t} \\(GPU ${t}\\) is on the CPU, @tensorflow/tfjs-node-gpu \\(libtensorflow 2\\.9\\.1 \\(stand-in\\)\\) on the CPU: \\S.+`)),
    );
    // The reason is this machine's own: ours have no NVIDIA driver.
    if (!existsSync('/proc/driver/nvidia/version'))
      for (const l of lines) expect(l).toMatch(/on the CPU: no NVIDIA driver is loaded \(\/proc\/driver\/nvidia\/version is missing\)/);
    expect(r.stderr).toMatch(
      /coordinator: --backend tensorflow: 2 of 2 towers were given a GPU and are not on one \(tower 0 .*; tower 1 .*\); fix that, or train on tfjs-node's CPU kernels without GPUs/,
    );
    expect(steps(out)).toEqual([]); // not one step trained
    expect(childrenOf(process.pid).filter((c) => c.cmd.includes('tower'))).toEqual([]);
  });
  it('--backend auto: the same lines, and it trains on the CPU', async () => {
    const r = await runCli(['--gpus', '0,1', ...tiny, '--out', join(dir, 'auto')], 120_000, root, standIn);
    expect(r.code, r.stderr).toBe(0);
    expect(onCpuLines(r.stderr)).toHaveLength(2);
    const result = JSON.parse(r.stdout) as Result;
    expect(result.backend).toBe('tensorflow');
    expect(result.device).toBe('@tensorflow/tfjs-node-gpu (libtensorflow 2.9.1 (stand-in)) on the CPU');
  });
  it('without the native packages: the lines say the GPU one is not installed, and wasm trains', async () => {
    const r = await runCli(['--gpus', '0,1', ...tiny, '--out', join(dir, 'none')], 120_000, root, { ...standIn, STAND_IN_GPU: 'missing' });
    expect(r.code, r.stderr).toBe(0);
    const lines = onCpuLines(r.stderr);
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l).toMatch(/is on the CPU, wasm \(XNNPACK, SIMD, 1 thread\): @tensorflow\/tfjs-node-gpu is not installed$/);
    expect((JSON.parse(r.stdout) as Result).backend).toBe('wasm');
  });
  it('a tower that is on a GPU says so and which, and no line says otherwise', async () => {
    const r = await runCli(['--gpus', '0,1', '--backend', 'tensorflow', ...tiny, '--out', join(dir, 'gpu')], 120_000, root, { ...standIn, STAND_IN_GPU: '1' });
    expect(r.code, r.stderr).toBe(0);
    expect(onCpuLines(r.stderr)).toEqual([]);
    // nvidia-smi is not on this machine, so which GPU cannot be told
    expect((JSON.parse(r.stdout) as Result).device).toBe('@tensorflow/tfjs-node-gpu (libtensorflow 2.9.1 (stand-in)) on a GPU (nvidia-smi did not say which)');
  });
});

describe('the small config on the tfjs-node contract backend', () => {
  it('a 2-tower run trains as it does on wasm: the same losses to float32 drift', async () => {
    // configs/mnist-small.yaml (real digits) with a loss line every 3 steps and 256 test digits; 12 steps
    // of 16. (The contract backend is plain JS: 35 s here, against 10 s on wasm.)
    const config = join(dir, 'mnist-small.yaml');
    const yaml = readFileSync(resolve(root, 'configs/mnist-small.yaml'), 'utf8');
    writeFileSync(config, yaml.replace(/^ {2}log_every: \d+$/m, '  log_every: 3').replace(/^ {2}test: 2000$/m, '  test: 256'));
    const run = async (backend: string) => {
      const out = join(dir, `small-${backend}`);
      const r = await runCli(['--config', config, '--gpus', '0,1', '--backend', backend, '--batch', '16', '--steps', '12', '--json', '--out', out], 240_000);
      expect(r.code, r.stderr).toBe(0);
      expect((JSON.parse(r.stdout) as Result).backend).toBe(backend);
      return steps(out).map((m) => m.loss);
    };
    const wasm = await run('wasm');
    const contract = await run(CONTRACT_BACKEND);
    expect(contract.length).toBeGreaterThanOrEqual(4);
    expect(contract).toHaveLength(wasm.length);
    // It learns: the last window's loss well under the first's (measured 3.36 → 2.40).
    expect(contract.at(-1)!).toBeLessThan(0.8 * contract[0]!);
    // Other kernels round otherwise, and 12 steps of momentum grow it: measured at most 1.0e-4 (last window).
    contract.forEach((l, i) => expect(Math.abs(l - wasm[i]!) / wasm[i]!, `window ${i}`).toBeLessThan(1e-3));
  }, 480_000);
});
