/**
 * The bench script stays runnable (it is not a timed test: nothing here looks at speed). The smallest run
 * it allows: the small net, one warm-up and one measured step per tower count, no model.fit.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root } from './helpers.js';

describe('npm run bench', () => {
  it('measures split and single tower side by side and writes its JSON', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'alexnet-bench-')), 'bench.json');
    const r = spawnSync(
      process.execPath,
      [resolve(root, 'packages/coordinator/dist/bench/bench.js'), '--only', 'small', '--no-fit', '--steps', '1', '--warmup', '1', '--seconds', '0', '--json', out],
      { encoding: 'utf8', timeout: 110_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/split \(2\)/);
    expect(r.stdout).toMatch(/single \(1\)/);
    const j = JSON.parse(readFileSync(out, 'utf8'));
    const { split, single } = j.runs.small;
    expect(split.towers).toBe(2);
    expect(single.towers).toBe(1);
    expect(split.images_per_sec).toBeGreaterThan(0);
    expect(j.split_over_single.small).toBeCloseTo(split.images_per_sec / single.images_per_sec, 2);
    // every layer of the net, timed on both towers
    expect(split.layers.map((l: { name: string }) => l.name)).toContain('conv3');
    for (const l of split.layers) expect(l.forward_ms).toHaveLength(2);
    // the busiest process's bytes, next to the fewest the split implies (never below it, and headers are small)
    const b = split.bytes_per_step;
    expect(b.max_process).toBeGreaterThanOrEqual(b.minimum);
    expect(b.max_process_over_minimum).toBeLessThan(1.1);
    // the wire alone moves the real step's tensors (headers differ: the real one carries per-layer times)
    const wire = j.wire.small.runs.find((r: { towers: number; batch: number }) => r.towers === 2 && r.batch === split.batch);
    expect(Math.abs(wire.bytes_per_step.max_process - b.max_process) / b.max_process).toBeLessThan(0.005);
    expect(j.wire.small.split).toBeGreaterThan(0);
    expect(j.split_over_single.paper).toBeNull();
  });
});
