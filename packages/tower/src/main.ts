#!/usr/bin/env node
/**
 * Tower process entry: parse, pick the backend, connect, serve. The coordinator normally spawns this;
 * `tower --connect tcp://HOST:PORT --index I --gpu ID --keys DIR` starts one by hand on another host, for a
 * coordinator started with `--listen`.
 */
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AlexnetError, initBackend, readKeyPair, readPublicKey } from '@alexnet/core';
import { pino } from 'pino';
import { type TowerCliOptions, towerCommand } from './cli.js';
import { startHeartbeat } from './heartbeat.js';
import { Tower } from './tower.js';

async function main(): Promise<void> {
  const opts = towerCommand().parse().opts<TowerCliOptions>();
  // Synchronous, as the coordinator's: an asynchronous stderr loses its last lines at process.exit when
  // the reader is behind (the fuzz test's count of rejections came up short that way).
  const log = pino({ name: `tower-${opts.index}`, level: opts.logLevel }, pino.destination({ dest: 2, sync: true }));
  const curve = opts.keys ? { pair: readKeyPair(opts.keys, `tower-${opts.index}`), serverKey: readPublicKey(opts.keys, 'coordinator'), dir: opts.keys } : undefined;
  if (!curve && opts.connect.startsWith('tcp://') && !/^tcp:\/\/(127\.|localhost:|\[::1\]:)/.test(opts.connect)) {
    log.warn({ coordinator: opts.connect }, 'no --keys: traffic to the coordinator is neither encrypted nor authenticated');
  }
  if (curve && opts.peerTransport !== undefined && opts.peerTransport !== 'zmq')
    throw new AlexnetError(
      'E_ARGS',
      `--peer-transport ${opts.peerTransport} carries no encryption: with --keys the towers exchange over ZeroMQ CURVE (leave --peer-transport out)`,
    );
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
    const tcp = opts.connect.startsWith('tcp://');
    const peer = opts.peer ?? (tcp ? 'tcp://0.0.0.0:0' : `ipc://${join(tmpdir(), `alexnet-peer-${process.pid}.sock`)}`);
    const address = /^tcp:\/\/(\*|0\.0\.0\.0):/.test(peer) ? (opts.peerAddress ?? (await addressToward(opts.connect))) : undefined;
    const advertise = address ? (bound: string) => bound.replace(/^tcp:\/\/[^:]+:/, `tcp://${address.includes(':') ? `[${address}]` : address}:`) : undefined;
    // Started by hand, a tower cannot know that its peers share its host (shm): stream links for GPUs,
    // ZeroMQ on wasm towers, where the threaded stream links measured slower (docs/benchmarks.md).
    const peerTransport = opts.peerTransport ?? (!curve && opts.gpu !== undefined ? 'stream' : 'zmq');
    await new Tower({
      connect: opts.connect,
      index: opts.index,
      backend,
      log,
      peer,
      peerTransport,
      ...(advertise ? { advertise } : {}),
      ...(opts.gpu !== undefined ? { gpu: opts.gpu } : {}),
      ...(curve ? { curve } : {}),
    }).run();
  } finally {
    await heartbeat?.stop();
  }
  process.exit(0);
}

/**
 * This host's address on the route to the coordinator: what the other towers (which reach the coordinator
 * too) can use for it. A connected UDP socket asks the kernel's routing table; nothing is sent.
 */
async function addressToward(connect: string): Promise<string> {
  const m = /^tcp:\/\/\[?([^\]]+?)\]?:(\d+)$/.exec(connect);
  if (!m) return '127.0.0.1';
  const socket = createSocket(m[1]!.includes(':') ? 'udp6' : 'udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(Number(m[2]), m[1]!, () => resolve());
    });
    return socket.address().address;
  } finally {
    socket.close();
  }
}

main().catch((e) => {
  process.stderr.write(`tower: ${e instanceof AlexnetError ? e.message : ((e as Error).stack ?? e)}\n`);
  process.exit(1);
});
