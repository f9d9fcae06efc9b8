/**
 * `--listen`: towers on other hosts connect to the coordinator over TCP. Binding beyond this machine without
 * CURVE keys is refused unless the user says --insecure.
 */
import { ConfigError, MAKE_KEYS } from '@alexnet/core';
import type { Logger } from 'pino';
import { readServerKeys } from './keys.js';
import { TowerLink } from './link.js';
import type { Listener } from './session.js';

export interface ListenOptions {
  listen?: string;
  keys?: string;
  insecure?: boolean;
  /** Seconds to wait for every tower to connect. */
  towerWait?: number;
}

/** How long a coordinator with --listen waits for its towers by default (pods may be scheduled, images pulled). */
export const TOWER_WAIT_S = 600;

export interface ListenAddress {
  endpoint: string;
  host: string;
  port: number;
  loopback: boolean;
}

/** `tcp://HOST:PORT`, `HOST:PORT` or `[IPv6]:PORT`; `*` and `0.0.0.0` mean every interface. */
export function parseListen(v: string): ListenAddress {
  const m = /^(?:tcp:\/\/)?(\[[0-9a-fA-F:.]+\]|[^:/[\]\s]+):(\d{1,5})$/.exec(v.trim());
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65535)
    throw new ConfigError('--listen', `"${v}" is not tcp://ADDRESS:PORT (e.g. tcp://0.0.0.0:5555, or tcp://127.0.0.1:5555 for this machine only)`);
  const host = m[1]!;
  const loopback = host === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '[::1]';
  return { endpoint: `tcp://${host}:${port}`, host, port, loopback };
}

/** Refuse what cannot listen before anything starts; returns the address. */
export function checkListen(o: ListenOptions, towers: number): ListenAddress | undefined {
  if (!o.listen) {
    if (o.keys) throw new ConfigError('--keys', 'keys are for towers on other hosts: give --listen tcp://ADDRESS:PORT too');
    if (o.insecure) throw new ConfigError('--insecure', 'only means something with --listen');
    return undefined;
  }
  const addr = parseListen(o.listen);
  if (o.keys)
    readServerKeys(o.keys, towers); // a missing or bad key file is named now
  else if (!addr.loopback && !o.insecure) {
    throw new ConfigError(
      '--listen',
      `${addr.endpoint} is reachable from other hosts, and without keys anyone there could join as a tower or read the traffic. ${MAKE_KEYS}; or pass --insecure on a network you trust`,
    );
  }
  return addr;
}

/** Bind the towers' socket (CURVE when keys are given) once for the whole run. */
export async function openListener(o: ListenOptions, addr: ListenAddress, towers: number, log: Logger): Promise<Listener> {
  const curve = o.keys ? readServerKeys(o.keys, towers) : undefined;
  if (!curve && !addr.loopback) log.warn({ listen: addr.endpoint }, `--insecure: towers at ${addr.endpoint} are not authenticated and the traffic is not encrypted`);
  const link = new TowerLink(addr.endpoint, towers, log, curve);
  await link.bind();
  return { link, waitMs: (o.towerWait ?? TOWER_WAIT_S) * 1000 };
}
