/**
 * The tower's heartbeat: a worker thread with its own ZeroMQ socket (identity `tower-<i>-hb`) that sends one
 * small frame every `intervalMs`, whatever the main thread is doing. A tower busy in a long convolution
 * keeps beating; a stopped (SIGSTOP) or dead process does not, and the coordinator notices within its
 * heartbeat timeout.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { type CurveClient, curveClientOptions } from './tower.js';

export interface Heartbeat {
  /** Close the thread's socket and end it: call before the process exits. */
  stop(): Promise<void>;
}

export function startHeartbeat(endpoint: string, index: number, intervalMs: number, log: Logger, curve?: CurveClient): Heartbeat {
  const worker = new Worker(new URL('./heartbeat_worker.js', import.meta.url), { workerData: { endpoint, index, intervalMs, curve: curveClientOptions(curve) } });
  // without beats the coordinator declares this tower hung: say why here, but keep computing
  worker.on('error', (e) => log.error({ err: e }, 'heartbeat thread failed'));
  worker.unref(); // never keeps the tower alive by itself
  let exited = false;
  const done = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  void done.then(() => (exited = true));
  return {
    async stop() {
      if (exited) return;
      worker.postMessage('stop');
      const timer = setTimeout(() => void worker.terminate(), 1000);
      await done;
      clearTimeout(timer);
    },
  };
}
