#!/usr/bin/env node
/**
 * Tower process entry: parse, pick the backend, connect, serve. The coordinator normally spawns this;
 * `tower --connect tcp://HOST:PORT --index I --gpu ID` starts one by hand.
 */
import { BACKENDS, type BackendChoice, initBackend } from '@alexnet/core';
import { Command, Option } from 'commander';
import { pino } from 'pino';
import { startHeartbeat } from './heartbeat.js';
import { Tower } from './tower.js';

async function main(): Promise<void> {
  const opts = new Command('tower')
    .description('one AlexNet tower: holds 1/N of every layer and computes its part')
    .requiredOption('--connect <endpoint>', 'coordinator endpoint (ipc://… or tcp://host:port)')
    .requiredOption('--index <n>', 'this tower\'s index, 0-based', (v) => Number.parseInt(v, 10))
    .option('--gpu <id>', 'GPU id to pin with CUDA_VISIBLE_DEVICES (a GPU backend is tried only when given)')
    .addOption(new Option('--backend <name>', 'compute backend').choices(BACKENDS).default('auto'))
    .option('--log-level <level>', 'pino log level', 'warn')
    .option('--heartbeat-ms <ms>', 'send the coordinator a heartbeat this often (0: none)', (v) => Number.parseInt(v, 10), 1000)
    .parse()
    .opts<{ connect: string; index: number; gpu?: string; backend: BackendChoice; logLevel: string; heartbeatMs: number }>();
  const log = pino({ name: `tower-${opts.index}`, level: opts.logLevel }, pino.destination(2));
  // The coordinator's IPC channel closes when it dies, however it dies: never outlive it.
  if (process.send) process.on('disconnect', () => process.exit(1));
  if (opts.gpu !== undefined && process.env.CUDA_VISIBLE_DEVICES === undefined) process.env.CUDA_VISIBLE_DEVICES = opts.gpu;
  if (opts.heartbeatMs > 0) startHeartbeat(opts.connect, opts.index, opts.heartbeatMs, log);
  const backend = await initBackend(opts.backend, opts.gpu !== undefined);
  log.info({ backend }, 'backend ready');
  await new Tower({ connect: opts.connect, index: opts.index, backend, log }).run();
  process.exit(0);
}

main().catch((e) => {
  process.stderr.write(`tower: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
