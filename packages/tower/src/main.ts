#!/usr/bin/env node
/**
 * Tower process entry: parse, pick the backend, connect, serve. The coordinator normally spawns this;
 * `tower --connect tcp://HOST:PORT --index I --gpu ID --keys DIR` starts one by hand on another host, for a
 * coordinator started with `--listen`.
 */
import { AlexnetError, initBackend, readKeyPair, readPublicKey } from '@alexnet/core';
import { pino } from 'pino';
import { type TowerCliOptions, towerCommand } from './cli.js';
import { startHeartbeat } from './heartbeat.js';
import { Tower } from './tower.js';

async function main(): Promise<void> {
  const opts = towerCommand().parse().opts<TowerCliOptions>();
  const log = pino({ name: `tower-${opts.index}`, level: opts.logLevel }, pino.destination(2));
  const curve = opts.keys ? { pair: readKeyPair(opts.keys, `tower-${opts.index}`), serverKey: readPublicKey(opts.keys, 'coordinator'), dir: opts.keys } : undefined;
  if (!curve && opts.connect.startsWith('tcp://') && !/^tcp:\/\/(127\.|localhost:|\[::1\]:)/.test(opts.connect)) {
    log.warn({ coordinator: opts.connect }, 'no --keys: traffic to the coordinator is neither encrypted nor authenticated');
  }
  // The coordinator's IPC channel closes when it dies, however it dies: never outlive it.
  if (process.send) process.on('disconnect', () => process.exit(1));
  if (opts.gpu !== undefined && process.env.CUDA_VISIBLE_DEVICES === undefined) process.env.CUDA_VISIBLE_DEVICES = opts.gpu;
  // CUDA numbers GPUs fastest first unless told otherwise; nvidia-smi (and so --gpus ids) by PCI bus.
  if (opts.gpu !== undefined) process.env.CUDA_DEVICE_ORDER ??= 'PCI_BUS_ID';
  const heartbeat = opts.heartbeatMs > 0 ? startHeartbeat(opts.connect, opts.index, opts.heartbeatMs, log, curve) : undefined;
  // Stopped by an orchestrator (pid 1 in a container ignores SIGTERM unless handled): nothing to save.
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      log.warn({ signal: sig }, 'stopping');
      void (heartbeat?.stop() ?? Promise.resolve()).then(() => process.exit(128 + (sig === 'SIGTERM' ? 15 : 2)));
    });
  }
  try {
    const backend = await initBackend(opts.backend, opts.gpu !== undefined);
    log.info({ backend, coordinator: opts.connect }, 'backend ready; connecting');
    await new Tower({ connect: opts.connect, index: opts.index, backend, log, ...(opts.gpu !== undefined ? { gpu: opts.gpu } : {}), ...(curve ? { curve } : {}) }).run();
  } finally {
    await heartbeat?.stop();
  }
  process.exit(0);
}

main().catch((e) => {
  process.stderr.write(`tower: ${e instanceof AlexnetError ? e.message : ((e as Error).stack ?? e)}\n`);
  process.exit(1);
});
