/** The tower's command line, apart from main.ts so that a test can read it (deploy/ must agree with it). */
import { BACKENDS, type BackendChoice } from '@alexnet/core';
import { Command, InvalidArgumentError, Option } from 'commander';

const whole =
  (name: string) =>
  (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`${name} must be a whole number, 0 or more`);
    return n;
  };

const endpoint = (v: string): string => {
  if (!/^(ipc:\/\/.+|tcp:\/\/[^:/]+:\d{1,5}|tcp:\/\/\[[0-9a-fA-F:]+\]:\d{1,5})$/.test(v)) throw new InvalidArgumentError('tcp://HOST:PORT (or ipc://PATH)');
  return v;
};

/** A peer endpoint: as --connect, or binding every interface (tcp://0.0.0.0:PORT, tcp://*:PORT). */
const endpointOrAny = (v: string): string => (/^tcp:\/\/(\*|0\.0\.0\.0):\d{1,5}$/.test(v) ? v : endpoint(v));

export interface TowerCliOptions {
  connect: string;
  index: number;
  gpu?: string;
  backend: BackendChoice;
  logLevel: string;
  heartbeatMs: number;
  keys?: string;
  peer?: string;
  peerAddress?: string;
  peerTransport?: 'shm' | 'stream' | 'zmq';
}

export function towerCommand(): Command {
  return new Command('tower')
    .description('one AlexNet tower: holds 1/N of every layer and computes its part')
    .requiredOption('--connect <endpoint>', 'coordinator endpoint: tcp://HOST:PORT (a coordinator started with --listen) or ipc://PATH', endpoint)
    .addOption(new Option('--index <n>', "this tower's index, 0-based (its key is tower-<n>)").env('TOWER_INDEX').argParser(whole('--index')).makeOptionMandatory())
    .option('--gpu <id>', 'GPU id to pin with CUDA_VISIBLE_DEVICES (a GPU backend is tried only when given)')
    .addOption(new Option('--backend <name>', 'compute backend').choices(BACKENDS).default('auto'))
    .option('--keys <dir>', "CURVE keys from `coordinator keys`: this tower's tower-<n>.key_secret and coordinator.key")
    .option(
      '--peer <endpoint>',
      'where the other towers reach this one (default: tcp://0.0.0.0:0, any free port, with a tcp --connect; a socket in the temporary directory with ipc)',
      endpointOrAny,
    )
    .option('--peer-address <host>', "the address the other towers use for it when --peer binds every interface (default: this host's address on the route to the coordinator)")
    .addOption(
      new Option(
        '--peer-transport <kind>',
        'links to the other towers: shm (every tower on this host: tensors through shared memory), stream (plain sockets read by a thread into reused buffers; shared memory with peers that turn out to be on this host), or zmq (ZeroMQ; always with --keys) (default: stream with --gpu and no keys, else zmq; the coordinator starts its own GPU towers with shm)',
      ).choices(['shm', 'stream', 'zmq']),
    )
    .option('--log-level <level>', 'pino log level', 'warn')
    .option('--heartbeat-ms <ms>', 'send the coordinator a heartbeat this often (0: none)', whole('--heartbeat-ms'), 1000);
}
