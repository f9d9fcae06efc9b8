/**
 * What a run leaves and shows: the default run directory `runs/<date>-<config>` with the resolved config,
 * metrics (step windows with the per-tower time breakdown, and evaluations), the JSON log, the final
 * checkpoint and the result; on a terminal, a progress bar per epoch; with --quiet, nothing but the result.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCheckpoint } from '@alexnet/coordinator';
import { describe, expect, it } from 'vitest';
import { cli, fixture, runCli, stepsLogged } from './helpers.js';

describe('the run directory', () => {
  it('defaults to runs/<date>-<config> and holds config, metrics, log, checkpoint and result', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'alexnet-rundir-'));
    const r = await runCli(['--config', fixture('tiny.yaml'), '--gpus', '0,1', '--backend', 'wasm', '--steps', '16', '--quiet'], 120_000, cwd);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(''); // --quiet: warnings and errors only
    expect(r.stdout).toMatch(/^split +2 towers +16 steps of 8/);
    const runs = readdirSync(join(cwd, 'runs'));
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatch(/^\d{8}-\d{6}-tiny$/);
    const dir = join(cwd, 'runs', runs[0]!);
    for (const f of ['config.resolved.json', 'metrics.jsonl', 'log.jsonl', 'checkpoint.bin', 'result.json']) expect(existsSync(join(dir, f)), f).toBe(true);
    expect(readCheckpoint(dir).step).toBe(16);
    const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const steps = lines.filter((l) => l.kind === 'step');
    const evals = lines.filter((l) => l.kind === 'eval');
    expect(steps).toHaveLength(16); // log_every 1
    expect(evals.map((e) => e.step)).toEqual([8, 16]); // 64 images, batch 8: an epoch is 8 steps
    for (const s of steps) {
      expect(s.busy_ms).toHaveLength(2);
      expect(s.waiting_ms).toHaveLength(2);
      // each tower computed for part of the step, and not the whole of it: the rest is exchange or waiting
      expect(s.busy_ms.every((b: number) => b > 0 && b < s.step_ms)).toBe(true);
      expect(s.exchange_ms).toBeGreaterThan(0);
      expect(s.exchange_ms).toBeLessThan(s.step_ms);
    }
    const log = readFileSync(join(dir, 'log.jsonl'), 'utf8');
    expect(log).toMatch(/"msg":"starting"/);
    expect(log).toMatch(/"msg":"split step 16\/16"/); // the log file keeps info lines even with --quiet
  });

  it('--baseline and --half-baseline run the same recipe on one tower and the half-kernel net, told apart in the metrics', async () => {
    const out = mkdtempSync(join(tmpdir(), 'alexnet-half-'));
    const r = await runCli([
      '--config',
      fixture('tiny.yaml'),
      '--gpus',
      '0,1',
      '--backend',
      'wasm',
      '--steps',
      '8',
      '--json',
      '--out',
      out,
      '--baseline',
      '--half-baseline',
      fixture('tiny-half.yaml'),
    ]);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result).toMatchObject({ towers: 2, baseline: { towers: 1 }, half: { towers: 1, net: 'tiny-half' } });
    expect(result.half.speedup).toBeGreaterThan(0);
    const runs = new Set(
      readFileSync(join(out, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).run),
    );
    expect([...runs].sort()).toEqual(['baseline', 'half', 'split']);
    for (const d of ['baseline', 'half']) expect(readCheckpoint(join(out, d)).config.net.name).toBe(d === 'half' ? 'tiny-half' : 'tiny');
  });

  it("resuming into the run directory keeps each run's metrics up to its checkpoint; a directory in use is refused", async () => {
    const a = mkdtempSync(join(tmpdir(), 'alexnet-resume-a-'));
    const b = mkdtempSync(join(tmpdir(), 'alexnet-resume-b-'));
    const args = ['--config', fixture('tiny.yaml'), '--gpus', '0,1', '--backend', 'wasm', '--quiet'];
    expect((await runCli([...args, '--steps', '8', '--out', a])).code).toBe(0);
    expect((await runCli([...args, '--steps', '12', '--out', b])).code).toBe(0);
    // b "crashed" after its step-8 checkpoint: its metrics run to 12, its checkpoint is at 8
    copyFileSync(join(a, 'checkpoint.bin'), join(b, 'checkpoint.bin'));
    const r = await runCli([...args, '--steps', '12', '--resume', b, '--out', b]);
    expect(r.code, r.stderr).toBe(0);
    const steps = stepsLogged(b);
    expect(steps).toEqual(Array.from({ length: 12 }, (_, i) => i + 1)); // not 1..12 then 9..12 again
    writeFileSync(join(b, '.lock'), String(process.pid)); // a live process holds it
    const busy = await runCli([...args, '--steps', '12', '--out', b]);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(new RegExp(`coordinator: --out: ${b} is in use by another run \\(pid ${process.pid}\\)`));
  });

  it('--continue starts a run in --out, and continues it from its checkpoint when run again (a job that restarts itself)', async () => {
    const whole = mkdtempSync(join(tmpdir(), 'alexnet-continue-whole-'));
    const dir = join(mkdtempSync(join(tmpdir(), 'alexnet-continue-')), 'run');
    const args = ['--config', fixture('tiny.yaml'), '--gpus', '0,1', '--backend', 'wasm', '--quiet'];
    expect((await runCli([...args, '--steps', '12', '--out', whole])).code).toBe(0);
    const first = await runCli([...args, '--steps', '8', '--out', dir, '--continue']);
    expect(first.code, first.stderr).toBe(0);
    expect(readCheckpoint(dir).step).toBe(8);
    const again = await runCli([...args.filter((a) => a !== '--quiet'), '--steps', '12', '--out', dir, '--continue']);
    expect(again.code, again.stderr).toBe(0);
    expect([...again.stderr.matchAll(/"kind":"step"/g)]).toHaveLength(4); // trained 9..12 only
    const steps = stepsLogged(dir);
    expect(steps).toEqual(Array.from({ length: 12 }, (_, i) => i + 1)); // 9..12 were added to 1..8
    const a = readCheckpoint(whole);
    const b = readCheckpoint(dir);
    for (const [k, v] of a.tensors) expect(Buffer.from(b.tensors.get(k)!.data.buffer).equals(Buffer.from(v.data.buffer)), k).toBe(true);
    const alone = await runCli([...args, '--continue']);
    expect(alone.code).toBe(1);
    expect(alone.stderr).toMatch(/coordinator: --continue: needs --out DIR/);
  });

  it('shows a progress bar per epoch on a terminal, with evaluations printed above it', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'alexnet-tty-'));
    const cmd = [process.execPath, cli, '--config', fixture('tiny.yaml'), '--gpus', '0,1', '--backend', 'wasm', '--steps', '16'].map((a) => `'${a}'`).join(' ');
    // `script` (util-linux) gives the run a pseudo-terminal, as a person's shell would
    const screen = execFileSync('script', ['-qec', cmd, '/dev/null'], { cwd, encoding: 'utf8', timeout: 120_000 });
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the escape character is what it strips
    const text = screen.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
    // the live bar, then one line per finished epoch
    expect(text).toMatch(/split +epoch 1\/2 \|[=-]+\| \d\/8 steps {2}loss \d+\.\d{4} {2}acc \d+\.\d% {2}[\d.-]+ img\/s {2}ETA/);
    expect(text).toMatch(/split +epoch 1\/2 {2}8\/8 steps {2}loss \d+\.\d{4} {2}acc \d+\.\d% {2}[\d.]+ img\/s\r?\n/);
    expect(text).toMatch(/split +epoch 2\/2 {2}8\/8 steps/);
    expect(text).toMatch(/INFO: split eval at step 8: top-1 error/);
    expect(text).toMatch(/INFO: run directory: .*runs\/\d{8}-\d{6}-tiny \(open .*report\.html\)/); // the last line is not lost
    expect(text).not.toMatch(/split step \d+\/16/); // per-window step lines go to the log file, the bar shows them
  });
});
