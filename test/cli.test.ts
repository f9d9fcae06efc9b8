/** The CLI as users run it: summaries, and bad configs refused before any tower process starts. */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, root, runCli } from './helpers.js';

describe('coordinator summary', () => {
  it('reports every layer of the paper net with output shape, parameters, and the total', async () => {
    const r = await runCli(['summary', '--config', join(root, 'configs/alexnet.yaml'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.layers).toHaveLength(23);
    const conv1 = s.layers[0];
    expect(conv1).toMatchObject({ name: 'conv1', output_shape: [55, 55, 96], params: 34_944 });
    const layer = (name: string) => s.layers.find((l: { name: string }) => l.name === name);
    expect(layer('fc6')).toMatchObject({ output_shape: [4096], params: 37_752_832, exchange: false, split: 'row' });
    // relu6 is the first layer that needs fc6's sum (relu of a partial is not the partial of a relu)
    expect(layer('relu6')).toMatchObject({ exchange: true, exchange_kind: 'reduce', exchange_bytes: 2 * 2 * 2048 * 4 });
    expect(layer('fc7')).toMatchObject({ split: 'column', exchange_kind: 'gather' });
    expect(s.total_params).toBe(60_965_224);
    // The paper's cross-tower layers; how each is split is chosen by bytes moved (fc6, fc8: row; fc7: column).
    // fc8's partial logits are summed at the coordinator: no exchange between towers there.
    expect(s.exchange_points).toEqual(['conv3', 'relu6', 'fc7']);
    // conv3 (ALEXNET.md): each tower sends the other its 13×13×128 = 21,632 values once, forward, and their
    // gradient comes back: 2 towers × 2 × 21,632 × 4 bytes
    expect(layer('conv3')).toMatchObject({ flops: 299_040_768, exchange_kind: 'gather', exchange_bytes: 346_112 });
    expect(s.layers.find((l: { name: string }) => l.name === 'conv4').exchange_bytes).toBe(0);
  });
  it.each(readdirSync(join(root, 'configs')).filter((f) => f.endsWith('.yaml')))('works for configs/%s', async (file) => {
    const r = await runCli(['summary', '--config', join(root, 'configs', file), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.total_params).toBeGreaterThan(0);
    expect(s.layers.at(-1).output_shape).toEqual([Number(/classes: (\d+)/.exec(readFileSync(join(root, 'configs', file), 'utf8'))![1])]);
  });
  it('prints a Keras-like table', async () => {
    const r = await runCli(['summary', '--config', fixture('tiny.yaml')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Layer \(kind\)\s+Output shape\s+Param #/);
    expect(r.stdout).toMatch(/Total params:/);
  });
});

describe('bad configs are refused before any process starts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'alexnet-cli-'));
  const tiny = readFileSync(fixture('tiny.yaml'), 'utf8');
  const cases: [string, string, string[], RegExp][] = [
    [
      'negative filters',
      tiny.replace('filters: 8, size: 3, stride: 1', 'filters: -3, size: 3, stride: 1'),
      ['--gpus', '0,1'],
      /net\.layers\[0\]\.filters: Too small: expected number to be >0/,
    ],
    ['unknown layer kind', tiny.replace('kind: relu }', 'kind: sigmoid }'), ['--gpus', '0,1'], /net\.layers\[1\]\.kind: unknown layer kind "sigmoid"; allowed: conv, relu, lrn/],
    [
      'filters not divisible by the towers',
      tiny,
      ['--gpus', '0,1,2'],
      /net\.layers\[0\]\.filters: conv1 has 8 output maps, not divisible by the tower count \(3\); allowed: multiples of 3/,
    ],
    ['unknown key', tiny.replace('batch: 8', 'batch: 8\n  bacth: 9'), ['--gpus', '0,1'], /train: Unrecognized key: "bacth"/],
  ];
  for (const [what, yaml, args, message] of cases) {
    it(what, async () => {
      const path = join(dir, `${what.replaceAll(' ', '-')}.yaml`);
      writeFileSync(path, yaml);
      const r = await runCli(['--config', path, ...args, '--backend', 'wasm']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/at .*\.js:\d+/); // a message, not a stack trace
      expect(r.stderr).not.toMatch(/starting|No GPU/); // refused before launching anything
    });
  }
});
