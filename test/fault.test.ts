/**
 * A tower dies mid-run: the coordinator must notice within seconds, stop the other towers, exit non-zero
 * naming the dead tower and how it died, and leave no process behind. With --max-restarts it starts the
 * towers again and resumes from the last checkpoint, and the run ends where an uninterrupted one does.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCheckpoint } from '@alexnet/coordinator';
import { describe, expect, it } from 'vitest';
import { alive, childrenOf, cli, fixture, maxDiff, root, runCli, stepsLogged } from './helpers.js';

describe('a tower killed mid-run', () => {
  it('stops the run, names the tower, leaves no process behind', async () => {
    const out = mkdtempSync(join(tmpdir(), 'alexnet-fault-'));
    const child = spawn(process.execPath, [cli, '--gpus', '0,1', '--config', fixture('tiny.yaml'), '--steps', '1000000', '--backend', 'wasm', '--out', out], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    const exited = new Promise<{ code: number | null; at: number }>((done) => child.on('exit', (code) => done({ code, at: Date.now() })));
    // Wait until training is under way (a step was logged).
    await new Promise<void>((ready, fail) => {
      const timer = setTimeout(() => fail(new Error(`no step logged in 60 s:\n${stderr}`)), 60_000);
      child.stderr.on('data', (d) => {
        stderr += d;
        if (/"step":\d+/.test(stderr)) {
          clearTimeout(timer);
          ready();
        }
      });
    });
    const towers = childrenOf(child.pid!);
    expect(towers).toHaveLength(2);
    const victim = towers.find((t) => / --index 1 /.test(t.cmd))!;
    expect(victim).toBeDefined();
    const killedAt = Date.now();
    process.kill(victim.pid, 'SIGKILL');
    const { code, at } = await exited;
    expect(code).not.toBe(0);
    expect(at - killedAt).toBeLessThan(5_000);
    expect(stderr).toMatch(/^coordinator: tower 1 \(device 1, pid \d+\) killed by SIGKILL$/m);
    expect(stderr).not.toMatch(/at .*\.js:\d+/); // a message, not a stack trace
    // No orphans: give the kernel a moment to reap, then every tower must be gone.
    await new Promise((r) => setTimeout(r, 500));
    for (const t of towers) expect(alive(t.pid), `tower pid ${t.pid}`).toBe(false);
  });

  it('with --max-restarts: killed three times at random steps, the run finishes with the weights of an uninterrupted one', async () => {
    const steps = 120;
    const args = ['--gpus', '0,1', '--config', fixture('tiny.yaml'), '--steps', String(steps), '--backend', 'wasm', '--checkpoint-every', '10'];
    const whole = mkdtempSync(join(tmpdir(), 'alexnet-whole-'));
    expect((await runCli([...args, '--out', whole])).code).toBe(0);

    const out = mkdtempSync(join(tmpdir(), 'alexnet-restarts-'));
    const child = spawn(process.execPath, [cli, ...args, '--out', out, '--max-restarts', '5'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let step = 0;
    child.stderr.on('data', (d) => {
      stderr += d;
      for (const m of String(d).matchAll(/"kind":"step","run":"split","step":(\d+)/g)) step = Number(m[1]);
    });
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    const kills: number[] = [];
    for (const [lo, hi] of [
      [12, 35],
      [45, 70],
      [80, 105],
    ] as const) {
      const at = lo + Math.floor(Math.random() * (hi - lo));
      while (step < at) await new Promise((r) => setTimeout(r, 5));
      const towers = childrenOf(child.pid!).filter((t) => / --index \d /.test(t.cmd));
      expect(towers).toHaveLength(2);
      process.kill(towers[Math.floor(Math.random() * 2)]!.pid, 'SIGKILL');
      kills.push(step);
      // wait for the restart before the next kill
      while (!new RegExp(`restart ${kills.length} of 5`).test(stderr)) await new Promise((r) => setTimeout(r, 5));
    }
    expect(await exited, stderr).toBe(0);
    const restarts = stderr
      .split('\n')
      .filter((l) => /restart \d of 5/.test(l))
      .join('\n');
    for (let k = 1; k <= 3; k++) expect(restarts).toMatch(new RegExp(`killed by SIGKILL; restart ${k} of 5, from the checkpoint at step \\d+`));
    const a = readCheckpoint(whole);
    const b = readCheckpoint(out);
    expect(b.step).toBe(steps);
    expect(maxDiff(a.tensors, b.tensors), `killed at steps ${kills.join(', ')}`).toBe(0);
    // each restart trained again only the steps since the last checkpoint (at most 10), not from the start
    const trained = [...stderr.matchAll(/"kind":"step","run":"split"/g)].length;
    expect(trained).toBeLessThanOrEqual(steps + 3 * 10);
    // the metrics do not repeat the steps trained again after each restart
    const logged = stepsLogged(out);
    expect(logged).toEqual(Array.from({ length: steps }, (_, i) => i + 1));
  });

  // Stopped right after it said ready, a tower may not have got a heartbeat through yet: its silence still
  // counts from its last message, not from the start with the startup grace.
  it.each([
    ['at step 20', /"step":20\b/],
    ['right after it is ready', /tower 1 computes on/],
  ])('a hung tower (SIGSTOP %s) is detected within the heartbeat timeout, named, and nothing is left behind', async (_when, trigger) => {
    const out = mkdtempSync(join(tmpdir(), 'alexnet-hung-'));
    const child = spawn(
      process.execPath,
      [cli, '--gpus', '0,1', '--config', fixture('tiny.yaml'), '--steps', '1000000', '--backend', 'wasm', '--out', out, '--heartbeat-timeout', '2'],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    while (!trigger.test(stderr)) await new Promise((r) => setTimeout(r, 10));
    const towers = childrenOf(child.pid!).filter((t) => / --index \d /.test(t.cmd));
    const victim = towers.find((t) => / --index 0 /.test(t.cmd))!;
    const stoppedAt = Date.now();
    process.kill(victim.pid, 'SIGSTOP');
    const code = await exited;
    const took = Date.now() - stoppedAt;
    expect(code).toBe(1);
    // silence counts from the last beat before the stop (beats every 0.4 s with a 2 s timeout): within the
    // timeout, give or take a beat interval and a check interval, plus stopping
    expect(took).toBeGreaterThan(2000 - 400);
    expect(took).toBeLessThan(2000 + 1500);
    expect(stderr).toMatch(new RegExp(`^coordinator: tower 0 \\(device 0, pid ${victim.pid}\\) sent no heartbeat for 2\\.\\d s: stopped or hung$`, 'm'));
    await new Promise((r) => setTimeout(r, 500));
    for (const t of towers) expect(alive(t.pid), `tower pid ${t.pid}`).toBe(false);
  });
});
