/**
 * Spawning and watching tower processes. Each tower is a child with an IPC channel it watches: when the
 * coordinator dies, however it dies, the channel closes and the tower exits. When a tower dies first,
 * `onDeath` fires with its name and exit code or signal, and the coordinator stops the rest.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BackendChoice } from '@alexnet/core';

export interface TowerSpec {
  index: number;
  /** Device id from --gpus. */
  device: string;
}

export interface LaunchOptions {
  endpoint: string;
  /** The session's directory: each tower binds its peer socket there. */
  dir: string;
  towers: TowerSpec[];
  backend: BackendChoice;
  /** Ask the towers to try a GPU backend (and pin CUDA_VISIBLE_DEVICES). */
  gpu: boolean;
  logLevel: string;
  /** How often each tower sends a heartbeat. */
  heartbeatMs: number;
  /** Start the towers with WARM_MALLOC. */
  warmMalloc: boolean;
  /** The towers' links to each other (the tower's --peer-transport). */
  peerTransport: 'shm' | 'stream' | 'zmq';
  onDeath: (tower: TowerSpec, pid: number | undefined, why: string) => void;
}

/**
 * glibc serves allocations above its mmap threshold with fresh mmap'd pages, and libzmq allocates every
 * received message: each multi-megabyte transfer then page-faults its way into memory. Raising the
 * threshold to glibc's maximum (32 MiB) and not trimming the heap lets received messages reuse warm
 * memory: `npm run bench -- --compute none` moves the paper net's exchange about 3× faster with it. On
 * towers that compute on the CPU it costs about 10% of their arithmetic (the paper-net bench, with and
 * without), so it is used where the exchange sets the step: GPU towers, and the wire-only bench. A user's
 * own MALLOC_* settings win.
 */
export const WARM_MALLOC: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: String(32 << 20),
  MALLOC_TRIM_THRESHOLD_: String(256 << 20),
  MALLOC_TOP_PAD_: String(64 << 20),
};

export const towerMainPath = (): string => fileURLToPath(import.meta.resolve('@alexnet/tower/main'));

export class TowerProcesses {
  readonly children: ChildProcess[] = [];
  private stopping = false;

  constructor(opts: LaunchOptions) {
    const main = towerMainPath();
    for (const t of opts.towers) {
      const args = [
        main,
        '--connect',
        opts.endpoint,
        '--index',
        String(t.index),
        '--peer',
        `ipc://${join(opts.dir, `peer-${t.index}.sock`)}`,
        '--backend',
        opts.backend,
        '--log-level',
        opts.logLevel,
        '--heartbeat-ms',
        String(opts.heartbeatMs),
      ];
      if (opts.gpu) args.push('--gpu', t.device);
      args.push('--peer-transport', opts.peerTransport);
      const env = { ...(opts.warmMalloc ? WARM_MALLOC : {}), ...process.env, ...(opts.gpu ? { CUDA_VISIBLE_DEVICES: t.device } : {}) };
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env });
      child.on('exit', (code, signal) => {
        if (this.stopping && (code === 0 || signal === 'SIGTERM' || signal === 'SIGKILL')) return;
        opts.onDeath(t, child.pid, signal ? `killed by ${signal}` : `exited with code ${code}`);
      });
      child.on('error', (e) => opts.onDeath(t, child.pid, `could not start: ${e.message}`));
      this.children.push(child);
    }
  }

  get pids(): number[] {
    return this.children.map((c) => c.pid!).filter((p) => p !== undefined);
  }

  /** Wait up to `graceMs` for the towers to exit by themselves, then kill what is left. */
  async stop(graceMs = 3000): Promise<void> {
    this.stopping = true;
    const alive = this.children.filter((c) => c.exitCode === null && c.signalCode === null);
    await Promise.all(
      alive.map(
        (c) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => c.kill('SIGKILL'), graceMs);
            c.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            if (c.exitCode !== null || c.signalCode !== null) {
              clearTimeout(timer);
              resolve();
            }
          }),
      ),
    );
  }

  /** Kill every tower now (the coordinator is going down). */
  killAll(): void {
    this.stopping = true;
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}
