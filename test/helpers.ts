import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect } from 'vitest';

export const root = resolve(import.meta.dirname, '..');
export const cli = resolve(root, 'packages/coordinator/dist/cli/cli.js');
export const fixture = (name: string) => resolve(root, 'test/fixtures', name);

/** The steps a run directory's metrics.jsonl has step lines for, in the order written. */
export function stepsLogged(dir: string): number[] {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { kind?: string; step?: number })
    .filter((l) => l.kind === 'step')
    .map((l) => l.step!);
}

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Run the coordinator CLI to completion (in the repository root, or `cwd`; with `env` added to the environment). */
export function runCli(args: string[], timeoutMs = 120_000, cwd = root, env: Record<string, string> = {}): Promise<Run> {
  return new Promise((done) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [cli, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** Live processes whose parent is `ppid`, with their command lines (read from /proc). */
export function childrenOf(ppid: number): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) !== ppid || fields[0] === 'Z') continue;
      out.push({ pid: Number(d), cmd: readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ') });
    } catch {
      // the process went away while we looked
    }
  }
  return out;
}

/** Whether a process exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

type Tensors = ReadonlyMap<string, { shape: number[]; data: Float32Array }>;

/** The largest absolute difference between two sets of named tensors, which must have the same names and shapes. */
export function maxDiff(a: Tensors, b: Tensors): number {
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  let worst = 0;
  for (const [k, v] of a) {
    const w = b.get(k)!;
    expect(w.shape, k).toEqual(v.shape);
    for (let i = 0; i < v.data.length; i++) worst = Math.max(worst, Math.abs(v.data[i]! - w.data[i]!));
  }
  return worst;
}
