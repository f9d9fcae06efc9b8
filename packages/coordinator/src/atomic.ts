import { renameSync, writeFileSync } from 'node:fs';

/** Write `path` whole or not at all: into a temporary file beside it, then renamed over it. */
export function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}
