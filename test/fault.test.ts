/**
 * A tower dies mid-run: the coordinator must notice within seconds, stop the other towers, exit non-zero
 * naming the dead tower and how it died, and leave no process behind.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { alive, childrenOf, cli, fixture, root } from './helpers.js';

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
});
