/**
 * `report.html` of a run directory: curves of the split run against the baselines, images/s, the time
 * breakdown per tower, the net drawn as towers with its exchange points, the config and the result. One
 * self-contained file: charts are SVG rendered when the report is written, the CSS is inline, and there
 * is no script and no external resource, so it opens offline.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { AlexnetError, type Config, parseConfig } from '@alexnet/core';
import { Document, isMap, isScalar, visit } from 'yaml';
import { writeAtomic } from '../atomic.js';
import { chartsOf, renderSvg } from './charts.js';
import { CSS, esc, inlineSvg, type RunRow, resultTable } from './html.js';
import { type Metrics, parseMetrics } from './metrics.js';
import { networkSvg } from './network.js';

/** A run directory the report cannot be made from. */
export class ReportError extends AlexnetError {
  constructor(dir: string, reason: string) {
    super('E_REPORT', `${dir}: ${reason}`);
  }
}

type Obj = Record<string, unknown>;

/** A run's numbers from result.json (the split run at the top level, the baselines under `baseline` and `half`). */
function runRow(run: string, o: unknown): RunRow | undefined {
  if (typeof o !== 'object' || o === null) return undefined;
  const r = o as Obj;
  const nums = ['towers', 'steps', 'batch', 'images_per_sec', 'final_loss', 'test_loss', 'top1_error', 'top5_error', 'train_seconds'] as const;
  if (!nums.every((k) => typeof r[k] === 'number')) return undefined;
  return {
    run,
    ...(Object.fromEntries(nums.map((k) => [k, r[k]])) as Record<(typeof nums)[number], number>),
    crops: typeof r.crops === 'number' ? r.crops : 1,
    device: typeof r.device === 'string' ? r.device : '',
  };
}

/** The config as YAML in the style of configs/*.yaml: one line per layer and per small map of scalars. */
function configYaml(config: Config): string {
  const doc = new Document(config);
  visit(doc, {
    Map(_, node, path) {
      if (path.length > 2 && node.items.every((p) => isScalar(p.value))) node.flow = true;
      if (isMap(node) && node.items.length === 0) node.flow = true;
    },
  });
  return doc.toString({ lineWidth: 0 });
}

const readIf = (path: string): string | undefined => (existsSync(path) ? readFileSync(path, 'utf8') : undefined);

/** Write `<runDir>/report.html` from what the run directory holds; returns its path. */
export async function writeReport(runDir: string): Promise<string> {
  const dir = resolve(runDir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ReportError(runDir, 'no such run directory');
  const { config, result, metrics, notices } = readRun(dir, runDir);
  // The split run's tower count: from the result, else from the metrics' per-tower times, else the net's columns.
  const splitBusy = metrics.steps.find((l) => l.run === 'split' && l.breakdown)?.breakdown?.busy_ms.length;
  const towers = typeof result?.towers === 'number' ? result.towers : (splitBusy ?? config?.net.groups ?? 1);
  const sections = [resultSection(result), await chartsSection(metrics), networkSection(config, towers), configSection(config)];
  const path = join(dir, 'report.html');
  writeAtomic(path, page(config?.net.name ?? basename(dir), dir, notices, sections));
  return path;
}

interface Run {
  config: Config | undefined;
  result: Obj | undefined;
  metrics: Metrics;
  /** What is missing or unreadable, said at the top of the report. */
  notices: string[];
}

/** The run directory's config, result and metrics, each as far as it can be read. */
function readRun(dir: string, runDir: string): Run {
  const configText = readIf(join(dir, 'config.resolved.json'));
  const resultText = readIf(join(dir, 'result.json'));
  const metricsText = readIf(join(dir, 'metrics.jsonl'));
  if (configText === undefined && resultText === undefined && metricsText === undefined) {
    throw new ReportError(runDir, 'no config.resolved.json, result.json or metrics.jsonl: not a run directory (give the --out directory of a run)');
  }
  const notices: string[] = [];
  const parse = <T>(text: string | undefined, file: string, missing: string, read: (text: string) => T): T | undefined => {
    if (text === undefined) {
      notices.push(missing);
      return undefined;
    }
    try {
      return read(text);
    } catch (e) {
      notices.push(`${file} could not be read: ${(e as Error).message}`);
      return undefined;
    }
  };
  const config = parse(configText, 'config.resolved.json', 'No config.resolved.json: the network and the config cannot be shown.', (t) => parseConfig(JSON.parse(t)));
  const result = parse(
    resultText,
    'result.json',
    'No result.json: the run did not finish (it was stopped, or is still running). The charts show the metrics written so far.',
    (t) => JSON.parse(t) as Obj,
  );
  const metrics: Metrics = metricsText === undefined ? { steps: [], evals: [], malformed: 0, ignored: 0 } : parseMetrics(metricsText);
  if (metricsText === undefined) notices.push('No metrics.jsonl: no curves to draw.');
  if (metrics.malformed > 0) notices.push(`${metrics.malformed} malformed line${metrics.malformed > 1 ? 's' : ''} in metrics.jsonl skipped.`);
  return { config, result, metrics, notices };
}

function resultSection(result: Obj | undefined): string {
  const half = result?.half as Obj | undefined;
  const rows = [runRow('split', result), runRow('baseline', result?.baseline), runRow(typeof half?.net === 'string' ? `half (${half.net})` : 'half', half)].filter(
    (r): r is RunRow => r !== undefined,
  );
  const speedups = [
    { label: 'split / single-tower images/s', value: (result?.baseline as Obj | undefined)?.speedup },
    { label: 'split / half-kernel images/s', value: half?.speedup },
  ].filter((s): s is { label: string; value: number } => typeof s.value === 'number');
  const data = result?.data as Obj | undefined;
  const skipped = Number(data?.skipped) > 0 ? `, ${esc(String(data?.skipped))} bad inputs skipped` : '';
  return (
    '<section id="result"><h2>Result</h2>' +
    (rows.length > 0 ? `<div class="scroll">${resultTable(rows, speedups)}</div>` : '<p class="missing">No result: the run did not finish.</p>') +
    (data && typeof data.name === 'string' ? `<p>Data: ${esc(data.name)}, ${esc(String(data.train))} training and ${esc(String(data.test))} test images${skipped}.</p>` : '') +
    '</section>'
  );
}

async function chartsSection(metrics: Metrics): Promise<string> {
  const figures: string[] = [];
  for (const chart of chartsOf(metrics)) {
    const wide = chart.id === 'error' || chart.id === 'breakdown';
    const body = chart.spec ? inlineSvg(await renderSvg(chart.spec), `chart-${chart.id}`) : `<p class="missing">Not drawn: ${esc(chart.missing ?? 'no data')}.</p>`;
    figures.push(
      `<figure class="chart${wide ? ' wide' : ''}" data-chart="${chart.id}"${chart.spec ? '' : ' data-missing="true"'}><h3>${esc(chart.title)}</h3>` +
        `<figcaption>${esc(chart.caption)}</figcaption>${body}</figure>`,
    );
  }
  return `<section id="charts"><h2>Training</h2><div class="grid">${figures.join('')}</div></section>`;
}

/** The network as towers. */
function networkSection(config: Config | undefined, towers: number): string {
  let network = '<p class="missing">Not drawn: no readable config.</p>';
  if (config) {
    try {
      network = networkSvg(config.net, towers);
    } catch (e) {
      network = `<p class="missing">Not drawn: ${esc((e as Error).message)}</p>`;
    }
  }
  return (
    `<section id="network-section"><h2>The network on ${towers} tower${towers > 1 ? 's' : ''}</h2>` +
    '<figure class="wide"><figcaption>One column per tower; each box is the tower\u2019s share of the layer\u2019s output (height×width×channels, or units). ' +
    'Red arrows mark exchanges: a <em>gather</em> where a layer reads other towers\u2019 outputs, a <em>reduce</em> where a row-split dense layer\u2019s partial sums are added. Hover a box for its channel range.</figcaption>' +
    `<div class="scroll">${network}</div></figure></section>`
  );
}

function configSection(config: Config | undefined): string {
  return (
    '<section id="config"><h2>Config</h2>' +
    (config
      ? `<p>As resolved for this run (the config file with the command line\u2019s overrides and every default), from <code>config.resolved.json</code>.</p><pre>${esc(configYaml(config))}</pre>`
      : '<p class="missing">No readable config.resolved.json.</p>') +
    '</section>'
  );
}

function page(name: string, dir: string, notices: readonly string[], sections: readonly string[]): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${esc(`${name}: run report`)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<h1>${esc(name)}: run report</h1>
<p class="sub">${esc(dir)} · written ${esc(new Date().toISOString().replace('T', ' ').slice(0, 19))} UTC</p>
${notices.map((n) => `<p class="notice">${esc(n)}</p>`).join('\n')}
${sections.join('\n')}
</main>
</body>
</html>
`;
}
