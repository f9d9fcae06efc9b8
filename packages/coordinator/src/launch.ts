/**
 * Spawning and watching tower processes. Each tower is a child with an IPC channel it watches: when the
 * coordinator dies, however it dies, the channel closes and the tower exits. When a tower dies first,
 * `onDeath` fires with its name and exit code or signal, and the coordinator stops the rest.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BackendChoice } from '@alexnet/core';

export interface TowerSpec {
  index: number;
  /** Device id from --gpus. */
  device: string;
}

export interface LaunchOptions {
  endpoint: string;
  towers: TowerSpec[];
  backend: BackendChoice;
  /** Ask the towers to try a GPU backend (and pin CUDA_VISIBLE_DEVICES). */
  gpu: boolean;
  logLevel: string;
  /** How often each tower sends a heartbeat. */
  heartbeatMs: number;
  onDeath: (tower: TowerSpec, pid: number | undefined, why: string) => void;
}

export const towerMainPath = (): string => fileURLToPath(import.meta.resolve('@alexnet/tower/main'));

export class TowerProcesses {
  readonly children: ChildProcess[] = [];
  private stopping = false;

  constructor(opts: LaunchOptions) {
    const main = towerMainPath();
    for (const t of opts.towers) {
      const args = [main, '--connect', opts.endpoint, '--index', String(t.index), '--backend', opts.backend, '--log-level', opts.logLevel, '--heartbeat-ms', String(opts.heartbeatMs)];
      if (opts.gpu) args.push('--gpu', t.device);
      const env = { ...process.env, ...(opts.gpu ? { CUDA_VISIBLE_DEVICES: t.device } : {}) };
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
