/**
 * `coordinator keys`: CURVE key pairs for a coordinator with --listen and its towers on other hosts, and
 * the coordinator's side of reading them (the towers read theirs in the tower package).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { formatKeyFile, KeyError, publicKeyFile, readKeyPair, readPublicKey, secretKeyFile } from '@alexnet/core';
import { curveKeyPair } from 'zeromq';
import type { CurveServer } from './link.js';

const names = (towers: number): string[] => ['coordinator', ...Array.from({ length: towers }, (_, i) => `tower-${i}`)];

/** Write `coordinator.key[_secret]` and `tower-<i>.key[_secret]` into `dir`; never overwrites. Returns the files. */
export function makeKeys(dir: string, towers: number): string[] {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // A tower holding an old key would be locked out, and the old secret would be lost: refuse.
  for (const n of names(towers)) {
    for (const f of [publicKeyFile(dir, n), secretKeyFile(dir, n)]) {
      if (existsSync(f)) throw new KeyError(`${f} exists: keys are never overwritten (give another --out, or remove the old keys first)`);
    }
  }
  const files: string[] = [];
  for (const n of names(towers)) {
    const pair = curveKeyPair();
    writeFileSync(secretKeyFile(dir, n), formatKeyFile(n, pair, true), { mode: 0o600, flag: 'wx' });
    writeFileSync(publicKeyFile(dir, n), formatKeyFile(n, pair, false), { mode: 0o644, flag: 'wx' });
    files.push(secretKeyFile(dir, n), publicKeyFile(dir, n));
  }
  return files;
}

/** What `coordinator keys` prints: the files, and how each end uses them. */
export function keysHelp(dir: string, towers: number, files: string[]): string {
  return [
    `wrote ${files.length} files to ${dir}:`,
    ...files.map((f) => `  ${f}`),
    '',
    'coordinator (needs coordinator.key_secret and every tower-N.key):',
    `  coordinator --listen tcp://0.0.0.0:5555 --keys ${dir} --config CONFIG`,
    'tower N on its host (needs tower-N.key_secret and coordinator.key):',
    `  tower --connect tcp://COORDINATOR_HOST:5555 --index N --gpu 0 --keys ${dir}`,
    'Kubernetes:',
    `  kubectl create secret generic alexnet-keys --from-file=${dir}`,
    `Keep the *.key_secret files private; ${towers} tower key${towers > 1 ? 's' : ''} written.`,
  ].join('\n');
}

/** The coordinator's key pair and the public keys of towers 0…towers-1, from a `coordinator keys` directory. */
export function readServerKeys(dir: string, towers: number): CurveServer {
  const pair = readKeyPair(dir, 'coordinator');
  const admitted = new Map<string, string>();
  for (let t = 0; t < towers; t++) admitted.set(readPublicKey(dir, `tower-${t}`), `tower-${t}`);
  return { pair, towers: admitted, dir };
}
