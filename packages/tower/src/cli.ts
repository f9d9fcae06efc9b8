/** The tower's command line, apart from main.ts so that a test can read it (deploy/ must agree with it). */
import { BACKENDS, type BackendChoice } from '@alexnet/core';
import { Command, InvalidArgumentError, Option } from 'commander';

const whole = (name: string) => (v: string): number => {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`${name} must be a whole number, 0 or more`);
  return n;
};

const endpoint = (v: string): string => {
  if (!/^(ipc:\/\/.+|tcp:\/\/[^:/]+:\d{1,5}|tcp:\/\/\[[0-9a-fA-F:]+\]:\d{1,5})$/.test(v)) throw new InvalidArgumentError('tcp://HOST:PORT (or ipc://PATH)');
  return v;
};

export interface TowerCliOptions {
  connect: string;
  index: number;
  gpu?: string;
  backend: BackendChoice;
  logLevel: string;
  heartbeatMs: number;
  keys?: string;
}

export function towerCommand(): Command {
  return new Command('tower')
    .description('one AlexNet tower: holds 1/N of every layer and computes its part')
    .requiredOption('--connect <endpoint>', 'coordinator endpoint: tcp://HOST:PORT (a coordinator started with --listen) or ipc://PATH', endpoint)
    .addOption(new Option('--index <n>', 'this tower\'s index, 0-based (its key is tower-<n>)').env('TOWER_INDEX').argParser(whole('--index')).makeOptionMandatory())
    .option('--gpu <id>', 'GPU id to pin with CUDA_VISIBLE_DEVICES (a GPU backend is tried only when given)')
    .addOption(new Option('--backend <name>', 'compute backend').choices(BACKENDS).default('auto'))
    .option('--keys <dir>', 'CURVE keys from `coordinator keys`: this tower\'s tower-<n>.key_secret and coordinator.key')
    .option('--log-level <level>', 'pino log level', 'warn')
    .option('--heartbeat-ms <ms>', 'send the coordinator a heartbeat this often (0: none)', whole('--heartbeat-ms'), 1000);
}

