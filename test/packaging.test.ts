/**
 * `npm ci` links bins while installing, before the root `prepare` script builds dist/: a bin that points
 * into dist/ is silently not linked on a fresh clone and `npx coordinator` fails. Bins must be committed.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root } from './helpers.js';

describe('packaging', () => {
  it('every bin is a committed file, not a build output', () => {
    const tracked = new Set(execFileSync('git', ['ls-files'], { cwd: root, encoding: 'utf8' }).split('\n'));
    for (const pkg of ['coordinator', 'tower']) {
      const manifest = JSON.parse(readFileSync(join(root, 'packages', pkg, 'package.json'), 'utf8')) as { bin: Record<string, string> };
      for (const target of Object.values(manifest.bin)) {
        expect(target).not.toMatch(/^(\.\/)?dist\//);
        expect(tracked.has(join('packages', pkg, target.replace(/^\.\//, '')))).toBe(true);
      }
    }
  });
});
