/**
 * Checkpoints through the CLI as users run it: stopping after step k and resuming gives the same weights
 * and momentum as not stopping (bit for bit on the same tower count; to float32 rounding on another), and
 * a corrupt checkpoint is refused with a message naming the file. With SGD, Adam, and augmentation with a
 * plateau schedule whose state must carry over.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCheckpoint } from '@alexnet/coordinator';
import { CONTRACT_BACKEND } from '@alexnet/core';
import { describe, expect, it } from 'vitest';
import { fixture, maxDiff as maxDiffOf, runCli } from './helpers.js';

const maxDiff = (a: ReturnType<typeof readCheckpoint>, b: ReturnType<typeof readCheckpoint>): number => maxDiffOf(a.tensors, b.tensors);

const dir = mkdtempSync(join(tmpdir(), 'alexnet-ckpt-'));
const base = ['--config', fixture('tiny.yaml'), '--backend', 'wasm', '--json'];

type Run = Awaited<ReturnType<typeof runCli>>;

/**
 * On 2 towers, with a checkpoint every 3 steps: 12 steps straight (`<name>-whole`), 9 steps (`<name>-first`),
 * then the 9-step checkpoint resumed to 12 (`<name>-rest`). Returns the runs and their final checkpoints.
 */
async function stopAndResume(name: string, args: string[]) {
  const run = async (out: string, steps: number, more: string[] = []): Promise<Run> => {
    const r = await runCli(['--gpus', '0,1', ...args, '--steps', String(steps), '--out', join(dir, `${name}-${out}`), '--checkpoint-every', '3', ...more]);
    expect(r.code, r.stderr).toBe(0);
    return r;
  };
  const whole = await run('whole', 12);
  const first = await run('first', 9);
  const rest = await run('rest', 12, ['--resume', join(dir, `${name}-first`)]);
  expect(rest.stderr).toMatch(/resumed at step 9/);
  const at = (out: string) => readCheckpoint(join(dir, `${name}-${out}`));
  return { whole, first, rest, a: at('whole'), stopped: at('first'), b: at('rest') };
}

describe('checkpoints', () => {
  it('stopping after step 9 and resuming gives the weights and momentum of an uninterrupted run', async () => {
    // 8 steps an epoch (64 images, batch 8): the resumed run starts inside epoch 2.
    const { a, b, stopped } = await stopAndResume('sgd', base);
    expect(a.step).toBe(12);
    expect(b.step).toBe(12);
    expect([...a.tensors.keys()]).toContain('fc5/weight@velocity');
    expect(maxDiff(a, b)).toBe(0);
    // The run did move the weights (so equality means something).
    expect(maxDiff(a, stopped)).toBeGreaterThan(1e-4);
    // The same checkpoint resumed on one tower: the same function, up to float32 rounding.
    const one = await runCli(['--gpus', '0', ...base, '--steps', '12', '--resume', join(dir, 'sgd-first'), '--out', join(dir, 'one'), '--checkpoint-every', '3']);
    expect(one.code, one.stderr).toBe(0);
    expect(maxDiff(a, readCheckpoint(join(dir, 'one')))).toBeLessThan(1e-6);
  });
  it('on the tfjs-node contract backend: stopping after step 9 and resuming gives the weights and momentum of an uninterrupted run', async () => {
    const { a, b, stopped, rest } = await stopAndResume('contract', ['--config', fixture('tiny.yaml'), '--backend', CONTRACT_BACKEND, '--json']);
    expect((JSON.parse(rest.stdout) as { backend: string }).backend).toBe(CONTRACT_BACKEND);
    expect(maxDiff(a, b)).toBe(0);
    expect(maxDiff(a, stopped)).toBeGreaterThan(1e-4);
  });
  it('with adam: stopping after step 9 and resuming gives the weights and moments of an uninterrupted run', async () => {
    // tiny.yaml with Adam in place of SGD (t counts on from the checkpoint's step: the bias correction continues).
    const yaml = readFileSync(fixture('tiny.yaml'), 'utf8');
    const sgdLine = /^ {2}optimizer: \{ kind: sgd.*$/m;
    expect(yaml).toMatch(sgdLine);
    const adamConfig = join(dir, 'tiny-adam.yaml');
    writeFileSync(adamConfig, yaml.replace(sgdLine, '  optimizer: { kind: adam, lr: 0.005, weight_decay: 0.0005 }'));
    const { a, b, stopped } = await stopAndResume('adam', ['--config', adamConfig, '--backend', 'wasm', '--json']);
    expect(b.step).toBe(12);
    const keys = [...a.tensors.keys()];
    expect(keys).toEqual(expect.arrayContaining(['fc5/weight', 'fc5/weight@m', 'fc5/weight@v', 'conv1/bias@m', 'conv1/bias@v']));
    expect(keys.filter((k) => k.endsWith('@velocity'))).toEqual([]);
    expect(maxDiff(a, b)).toBe(0);
    expect(maxDiff(a, stopped)).toBeGreaterThan(1e-4);
    // Resuming Adam's state under SGD is refused, naming what the checkpoint holds.
    const wrong = await runCli(['--gpus', '0,1', ...base, '--steps', '12', '--resume', join(dir, 'adam-first'), '--out', join(dir, 'wrong')]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/no conv1\/weight@velocity: it holds adam state \(@m, @v\), this config's optimizer is sgd/);
  });
  it('with augmentation and a plateau schedule that dropped the rate before the stop: the resumed run equals an uninterrupted one', async () => {
    // 16 images, batch 8: an evaluation every 2 steps. min_delta 0.5 makes every evaluation after the first
    // "not an improvement", so with patience 1 the rate drops at step 4 (once: max_drops 1), before the stop at 9.
    const yaml = readFileSync(fixture('tiny.yaml'), 'utf8')
      .replace(
        /^data: .*$/m,
        'data: { dataset: synthetic, train: 16, test: 8, size: 14, augment: { crop: true, flip: true, lighting: 0.1 }, normalize: { mean: image, std: true } }\neval: { crops: 10 }',
      )
      .replace(/^ {2}optimizer: (.*)$/m, '  optimizer: $1\n  schedule: { kind: plateau, factor: 0.1, patience: 1, max_drops: 1, min_delta: 0.5 }');
    const file = join(dir, 'tiny-plateau.yaml');
    writeFileSync(file, yaml);
    const { whole, rest, a, b, stopped } = await stopAndResume('plateau', ['--config', file, '--backend', 'wasm', '--json']);
    expect(whole.stderr).toMatch(/learning rate now 0\.005/);
    expect(stopped.schedule).toMatchObject({ drops: 1 });
    expect(stopped.schedule!.lr).toBeCloseTo(0.005, 9);
    expect(rest.stderr).not.toMatch(/learning rate now/); // it resumed at the dropped rate, with max_drops used up
    expect(maxDiff(a, b)).toBe(0);
    expect(a.schedule).toEqual(b.schedule);
    expect(maxDiff(a, stopped)).toBeGreaterThan(1e-5);
  });
  it('refuses a corrupt checkpoint, naming the file, with no stack trace', async () => {
    const file = join(dir, 'sgd-first', 'checkpoint.bin');
    const bytes = readFileSync(file);
    bytes[bytes.length - 5]! ^= 0xff;
    const bad = join(dir, 'bad');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(bad, { recursive: true });
    writeFileSync(join(bad, 'checkpoint.bin'), bytes);
    const r = await runCli(['--gpus', '0,1', ...base, '--steps', '12', '--resume', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/coordinator: .*bad\/checkpoint\.bin: checksum mismatch/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
    const none = await runCli(['--gpus', '0,1', ...base, '--steps', '12', '--resume', join(dir, 'nowhere')]);
    expect(none.stderr).toMatch(/nowhere\/checkpoint\.bin: cannot read/);
    // another seed would continue with another data order and augmentation: refused, naming the field
    const seed = await runCli(['--gpus', '0,1', ...base, '--steps', '12', '--seed', '5', '--resume', join(dir, 'sgd-first')]);
    expect(seed.code).toBe(1);
    expect(seed.stderr).toMatch(/coordinator: train\.seed: .*sgd-first was made with seed 7, this run has 5/);
  });
});
