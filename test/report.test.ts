/**
 * report.html: written from a hand-made run directory (what it draws, what it says about bad or missing
 * input), and from a real 2-tower run with --baseline, opened in headless Chromium: every chart drawn, the
 * network diagram there, no console error, no request for anything outside the file.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig, writeReport } from '@alexnet/coordinator';
import packaged from '@sparticuz/chromium';
import { type Browser, chromium, type Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { fixture, root, runCli } from './helpers.js';

const CHARTS = ['loss', 'error', 'speed', 'breakdown'];

/** The <figure> of each chart, by id. */
function figures(html: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of html.split('<figure class="chart').slice(1)) {
    const id = /data-chart="(\w+)"/.exec(part)![1]!;
    out.set(id, part.slice(0, part.indexOf('</figure>')));
  }
  return out;
}

const step = (run: string, s: number, loss: number, busy?: number[]) => {
  const most = busy ? Math.max(...busy) : 0;
  return JSON.stringify({
    kind: 'step',
    run,
    step: s,
    epoch: 1,
    loss,
    accuracy: 1 - loss / 3,
    lr: 0.05,
    images_per_sec: run === 'split' ? 300 + s : 200 + s,
    data_wait_ms: 0.1,
    ...(busy ? { step_ms: most + 12, busy_ms: busy, exchange_ms: 12, waiting_ms: busy.map((b) => most - b) } : {}),
  });
};
const evalLine = (run: string, s: number, loss: number) =>
  JSON.stringify({ kind: 'eval', run, step: s, epoch: 1, lr: 0.05, images: 16, crops: 1, loss, top1_error: loss / 4, top5_error: loss / 20 });

function runDir(opts: { result: boolean; lines: string[] }): string {
  const dir = mkdtempSync(join(tmpdir(), 'report-'));
  writeFileSync(join(dir, 'config.resolved.json'), JSON.stringify(resolveConfig({ config: fixture('tiny.yaml') }), null, 2));
  writeFileSync(join(dir, 'metrics.jsonl'), `${opts.lines.join('\n')}\n`);
  if (opts.result) {
    const run = {
      towers: 2,
      steps: 30,
      batch: 8,
      backend: 'wasm',
      device: 'wasm (XNNPACK, SIMD, 1 thread)',
      images_per_sec: 330,
      train_seconds: 0.7,
      final_loss: 1.2,
      test_loss: 1.3,
      test_accuracy: 0.61,
      top1_error: 0.39,
      top5_error: 0.05,
      crops: 1,
      step_ms: { pass: 20, update: 2, loss: 0.1, exchange: 1, data: 0.5 },
    };
    const result = {
      ...run,
      data: { name: 'synthetic', train: 64, test: 16, skipped: 0 },
      baseline: { ...run, towers: 1, images_per_sec: 230, top1_error: 0.41, speedup: 330 / 230 },
      half: { ...run, towers: 1, images_per_sec: 250, net: 'tiny-half', speedup: 330 / 250 },
    };
    writeFileSync(join(dir, 'result.json'), JSON.stringify(result, null, 2));
  }
  return dir;
}

describe('report.html from a run directory', () => {
  it('draws every chart and the network as SVG, inline, with the config and the result', async () => {
    const dir = runDir({
      result: true,
      lines: [
        step('split', 10, 2.0, [50, 48]),
        step('split', 20, 1.6, [52, 47]),
        step('split', 30, 1.2, [51, 49]),
        evalLine('split', 30, 1.3),
        '{"kind":"step","run":"split","step":4', // a line cut off mid-write
        step('baseline', 10, 2.0, [95]),
        JSON.stringify({ run: 'baseline', step: 20, epoch: 1, loss: 1.7, accuracy: 0.4, lr: 0.05, images_per_sec: 210, data_wait_ms: 0 }), // an old line: no kind, no breakdown
        step('baseline', 30, 1.25, [96]),
        evalLine('baseline', 30, 1.35),
        step('half', 30, 1.5, [70]),
      ],
    });
    const path = await writeReport(dir);
    expect(path).toBe(join(dir, 'report.html'));
    const html = readFileSync(path, 'utf8');
    // four charts and the network, all inline SVG; nothing fetched from anywhere
    expect(html.match(/<svg\b/g)).toHaveLength(5);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script|<link rel="stylesheet"|@import|url\((?!#)/);
    const figs = figures(html);
    expect([...figs.keys()]).toEqual(CHARTS);
    for (const [id, fig] of figs) {
      expect(fig, id).toMatch(/<svg\b/);
      // drawn marks: vega's data mark groups hold one <path> per line, point or bar
      const marks = fig.match(/class="mark-(line|symbol|rect) role-mark[^"]*"[^>]*>\s*<path/g) ?? [];
      expect(marks.length, id).toBeGreaterThan(0);
    }
    // every run is in the curves, and the breakdown has a bar per (run, tower) that has the fields
    for (const run of ['split', 'baseline', 'half']) expect(figs.get('loss')).toContain(`>${run}</text>`);
    for (const bar of ['split · tower 0', 'split · tower 1', 'baseline · tower 0', 'half · tower 0']) expect(figs.get('breakdown')).toContain(`>${bar}</text>`);
    // the network: a box per tower per layer (and the image), exchanges marked where the plan has them
    const net = html.slice(html.indexOf('<svg id="network"'));
    expect(net.match(/<g class="box/g)).toHaveLength(2 * 15);
    expect([...net.matchAll(/<g class="box exchange" data-layer="(\w+)" data-tower="0"/g)].map((m) => m[1])).toEqual(['conv3', 'fc4']);
    expect(net.match(/class="cross gather"/g)!.length).toBeGreaterThan(0);
    // the config as YAML, the result and what was skipped
    expect(html).toContain('name: tiny');
    expect(html).toContain('optimizer: { kind: sgd, lr: 0.05, momentum: 0.9, weight_decay: 0.0005 }');
    expect(html).toContain('Speedup (split / single-tower images/s): <strong>1.43×');
    expect(html).toContain('Speedup (split / half-kernel images/s): <strong>1.32×');
    expect(html).toContain('<td>half (tiny-half)</td>');
    expect(html).toContain('39.00%');
    expect(html).toContain('1 malformed line in metrics.jsonl skipped.');
    expect(html).not.toContain('did not finish');
  });

  it('says when the run did not finish, draws what metrics exist, and escapes what it shows', async () => {
    const dir = runDir({
      result: false,
      lines: [
        JSON.stringify({ run: 'split', step: 10, epoch: 1, loss: 2, accuracy: 0.3, lr: 0.05, images_per_sec: 300, data_wait_ms: 0 }),
        JSON.stringify({ run: '<img src=x onerror=alert(1)>', step: 10, epoch: 1, loss: 2.2, accuracy: 0.2, lr: 0.05, images_per_sec: 200, data_wait_ms: 0 }),
        'not json',
        '42',
      ],
    });
    const html = readFileSync(await writeReport(dir), 'utf8');
    expect(html).toContain('No result.json: the run did not finish');
    expect(html).toContain('2 malformed lines in metrics.jsonl skipped.');
    expect(html).not.toContain('<img');
    const figs = figures(html);
    for (const id of ['loss', 'error', 'speed']) expect(figs.get(id), id).toMatch(/class="mark-line role-mark[^"]*"[^>]*>\s*<path/);
    // no line has the time breakdown: the chart says why it is not drawn
    expect(figs.get('breakdown')).toContain('data-missing="true"');
    expect(figs.get('breakdown')).not.toContain('<svg');
    // the tower count comes from the net's columns when there is no result
    expect(html).toContain('The network on 2 towers');
  });

  it('refuses a directory that is not a run directory, naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'report-empty-'));
    await expect(writeReport(dir)).rejects.toThrow(`${dir}: no config.resolved.json, result.json or metrics.jsonl`);
    await expect(writeReport(join(dir, 'nope'))).rejects.toThrow('no such run directory');
  });
});

/**
 * A headless Chromium: the one inside the @sparticuz/chromium devDependency (unpacked to the temp dir on
 * first use, nothing downloaded), else a system chromium, whichever launches first.
 */
async function launchChromium(): Promise<Browser> {
  const tried: string[] = [];
  const candidates: (() => Promise<{ executablePath: string; args: string[] }>)[] = [
    async () => ({ executablePath: await packaged.executablePath(), args: packaged.args }),
    ...['/usr/bin/chromium', '/usr/bin/chromium-browser']
      .filter((p) => existsSync(p))
      .map((p) => async () => ({ executablePath: p, args: ['--headless', '--no-sandbox', '--disable-gpu'] })),
  ];
  for (const candidate of candidates) {
    try {
      const launch = await candidate();
      return await chromium.launch(launch);
    } catch (e) {
      tried.push((e as Error).message.split('\n')[0]!);
    }
  }
  throw new Error(`headless Chromium is needed to check report.html and none launched (${tried.join('; ')}): @sparticuz/chromium comes with npm ci; or apt-get install chromium`);
}

/** A page of the report, opened with every request off the machine stopped and every console error kept. */
async function openOffline(browser: Browser, path: string): Promise<{ page: Page; errors: string[]; requests: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') errors.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  // Anything but the page itself is a defect; what would leave the machine is stopped, not sent.
  page.on('request', (req) => {
    if (req.url() !== `file://${path}`) requests.push(req.url());
  });
  await page.route(
    (url) => url.protocol !== 'file:',
    (route) => route.abort(),
  );
  await page.goto(`file://${path}`, { waitUntil: 'load' });
  return { page, errors, requests };
}

/** Each chart's id, drawn size, data marks and text. */
async function chartsOn(page: Page) {
  return await page.$$eval('figure.chart', (figs) =>
    figs.map((f) => {
      const svg = f.querySelector('svg');
      const box = svg?.getBoundingClientRect();
      // vega's data marks: <path> elements in groups with role-mark (lines, points, bars)
      const marks = [...f.querySelectorAll('g.role-mark path')].map((p) => (p as SVGGraphicsElement).getBBox());
      return {
        id: (f as HTMLElement).dataset.chart,
        width: box?.width ?? 0,
        height: box?.height ?? 0,
        marks: marks.length,
        drawn: marks.filter((b) => b.width > 0 || b.height > 0).length,
        text: svg?.textContent ?? '',
      };
    }),
  );
}

/** The network drawing's size, boxes, the exchanges tower 0 marks and the crossing arrows. */
async function networkOn(page: Page) {
  return await page.$eval('svg#network', (svg) => {
    const box = svg.getBoundingClientRect();
    return {
      width: box.width,
      height: box.height,
      boxes: svg.querySelectorAll('g.box').length,
      exchanges: [...svg.querySelectorAll('g.box.exchange[data-tower="0"]')].map((g) => (g as SVGGElement).dataset.layer),
      crossings: svg.querySelectorAll('line.cross').length,
    };
  });
}

describe('report.html of a real run, in headless Chromium', () => {
  it('a 2-tower run with --baseline: every chart drawn, the network there, no console errors, no network', async () => {
    const browser = await launchChromium(); // before the run: say what is missing without training first
    try {
      const dir = mkdtempSync(join(tmpdir(), 'report-run-'));
      const r = await runCli(['--config', 'configs/mnist-small.yaml', '--gpus', '0,1', '--baseline', '--steps', '40', '--out', dir, '--backend', 'wasm']);
      expect(r.code, r.stderr).toBe(0);
      // the run writes its report itself; `coordinator report DIR` rebuilds it
      const path = join(dir, 'report.html');
      expect(existsSync(path)).toBe(true);
      for (const f of ['config.resolved.json', 'metrics.jsonl', 'log.jsonl', 'result.json', 'checkpoint.bin', 'baseline/checkpoint.bin'])
        expect(existsSync(join(dir, f)), f).toBe(true);
      const rebuilt = await runCli(['report', dir]);
      expect(rebuilt.code, rebuilt.stderr).toBe(0);
      expect(rebuilt.stdout.trim()).toBe(path);

      const { page, errors, requests } = await openOffline(browser, path);
      const charts = await chartsOn(page);
      expect(charts.map((c) => c.id)).toEqual(CHARTS);
      for (const c of charts) {
        expect(c.width, c.id).toBeGreaterThan(100);
        expect(c.height, c.id).toBeGreaterThan(50);
        expect(c.drawn, c.id).toBeGreaterThan(0);
      }
      for (const id of ['loss', 'speed']) {
        const c = charts.find((x) => x.id === id)!;
        expect(c.text, id).toContain('split');
        expect(c.text, id).toContain('baseline');
      }
      // the breakdown: one bar per part per (run, tower): split's two towers and the baseline's one
      expect(charts.find((c) => c.id === 'breakdown')!.marks).toBe(3 * 3);

      const network = await networkOn(page);
      expect(network.width).toBeGreaterThan(100);
      expect(network.height).toBeGreaterThan(100);
      expect(network.boxes).toBe(2 * 24); // the image and 23 layers, per tower
      expect(network.exchanges).toEqual(['conv3', 'fc6', 'fc7']);
      expect(network.crossings).toBe(2 * 3); // two crossing arrows at each gather (conv3, fc6, fc7)

      const text = await page.textContent('body');
      expect(text).toContain('Speedup (split / single-tower images/s)');
      expect(text).toContain('name: mnist-small');
      expect(errors).toEqual([]);
      expect(requests).toEqual([]);

      if (process.env.REPORT_SCREENSHOT === '1') {
        mkdirSync(join(root, 'docs'), { recursive: true });
        await page.screenshot({ path: join(root, 'docs/report.png'), fullPage: true });
      }
    } finally {
      await browser.close();
    }
  });
});
