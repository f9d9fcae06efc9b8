/**
 * The report's charts: vega-lite specs compiled to vega and rendered to SVG in Node when the report is
 * written (a headless view, renderer 'none'), so the page needs no script and no network to show them.
 * Data goes into the specs inline; nothing is loaded.
 */
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { breakdownOf, type Metrics, runsOf } from './metrics.js';

/** Runs keep their colour in every chart: split blue, baseline orange, the half-kernel baseline green. */
const PALETTE: Record<string, string> = { split: '#4c78a8', baseline: '#f58518', half: '#54a24b' };
const MORE = ['#e45756', '#72b7b2', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac', '#eeca3b'];

function runColors(runs: string[]): { domain: string[]; range: string[] } {
  const spare = MORE.filter((c) => !Object.values(PALETTE).includes(c));
  let next = 0;
  return { domain: runs, range: runs.map((r) => PALETTE[r] ?? spare[next++ % spare.length]!) };
}

const CONFIG = {
  font: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
  background: '#ffffff',
  view: { stroke: '#e5e7eb' },
  axis: { labelColor: '#374151', titleColor: '#111827', gridColor: '#eef0f3', domainColor: '#9ca3af', tickColor: '#9ca3af' },
  legend: { labelColor: '#374151', titleColor: '#111827', orient: 'bottom', direction: 'horizontal' },
  line: { strokeWidth: 2 },
} as const;

const W = 440;
const H = 230;

/** Render a vega-lite spec to an SVG document string. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export interface Chart {
  /** Stable id, used by the page and its test. */
  id: 'loss' | 'error' | 'speed' | 'breakdown';
  title: string;
  caption: string;
  spec?: TopLevelSpec;
  /** Why the chart is not drawn, when `spec` is absent. */
  missing?: string;
}

/** Every chart's step axis spans the whole run, so a lone evaluation at the end sits where it belongs. */
const stepAxis = (m: Metrics) => ({
  field: 'step',
  type: 'quantitative' as const,
  title: 'step',
  axis: { tickMinStep: 1, format: 'd' },
  scale: { domain: [0, Math.max(1, ...m.steps.map((l) => l.step), ...m.evals.map((l) => l.step))], nice: false },
});

export function lossChart(m: Metrics): Chart {
  const runs = runsOf(m);
  const rows = [
    ...m.steps.map((l) => ({ run: l.run, step: l.step, loss: l.loss, series: 'training' })),
    ...m.evals.map((l) => ({ run: l.run, step: l.step, loss: l.loss, series: 'validation' })),
  ];
  const chart: Chart = {
    id: 'loss',
    title: 'Loss',
    caption:
      'Training loss (mean over each logged window of steps) and validation loss at each evaluation. The split and single-tower runs compute the same function from the same weights and batches, so their training curves lie on top of each other until float rounding sets them apart.',
  };
  if (rows.length === 0) return { ...chart, missing: 'no step or eval lines in metrics.jsonl' };
  return {
    ...chart,
    spec: {
      config: CONFIG,
      width: W,
      height: H,
      data: { values: rows },
      mark: { type: 'line', point: { filled: true, size: 60 } },
      encoding: {
        x: stepAxis(m),
        y: { field: 'loss', type: 'quantitative', title: 'cross-entropy loss', scale: { zero: false } },
        color: { field: 'run', type: 'nominal', title: 'run', scale: runColors(runs) },
        strokeDash: {
          field: 'series',
          type: 'nominal',
          title: 'loss',
          scale: {
            domain: ['training', 'validation'],
            range: [
              [1, 0],
              [5, 3],
            ],
          },
        },
        shape: { field: 'series', type: 'nominal', title: 'loss', scale: { domain: ['training', 'validation'], range: ['circle', 'diamond'] } },
        tooltip: [{ field: 'run' }, { field: 'series' }, { field: 'step' }, { field: 'loss', format: '.4f' }],
      },
    },
  };
}

export function errorChart(m: Metrics): Chart {
  const runs = runsOf(m);
  const chart: Chart = {
    id: 'error',
    title: 'Accuracy and error',
    caption: 'Left: training accuracy per logged window. Right: validation top-1 and top-5 error at each evaluation.',
  };
  if (m.steps.length === 0 && m.evals.length === 0) return { ...chart, missing: 'no step or eval lines in metrics.jsonl' };
  const color = { field: 'run', type: 'nominal', title: 'run', scale: runColors(runs) } as const;
  const train = m.steps.map((l) => ({ run: l.run, step: l.step, accuracy: l.accuracy }));
  const val = m.evals.flatMap((l) => [
    { run: l.run, step: l.step, error: l.top1_error, metric: 'top-1' },
    { run: l.run, step: l.step, error: l.top5_error, metric: 'top-5' },
  ]);
  const percent = { format: '.0%' };
  /** One panel of the pair: a line per run (and per metric) against the step, on a 0–100% axis. */
  const panel = (title: string, values: object[], field: string, size: number, encoding: object) => ({
    width: W,
    height: H,
    title,
    data: { values },
    mark: { type: 'line', point: { filled: true, size } },
    encoding: { x: stepAxis(m), y: { field, type: 'quantitative', title: field, axis: percent, scale: { domain: [0, 1] } }, color, ...encoding },
  });
  const panels = [];
  if (train.length > 0) {
    panels.push(panel('training accuracy', train, 'accuracy', 36, { tooltip: [{ field: 'run' }, { field: 'step' }, { field: 'accuracy', format: '.2%' }] }));
  }
  if (val.length > 0) {
    panels.push(
      panel('validation error', val, 'error', 70, {
        strokeDash: {
          field: 'metric',
          type: 'nominal',
          title: 'error',
          scale: {
            domain: ['top-1', 'top-5'],
            range: [
              [1, 0],
              [5, 3],
            ],
          },
        },
        shape: { field: 'metric', type: 'nominal', title: 'error', scale: { domain: ['top-1', 'top-5'], range: ['circle', 'square'] } },
        tooltip: [{ field: 'run' }, { field: 'metric' }, { field: 'step' }, { field: 'error', format: '.2%' }],
      }),
    );
  }
  return { ...chart, spec: { config: CONFIG, hconcat: panels, resolve: { scale: { color: 'shared' } } } as TopLevelSpec };
}

export function speedChart(m: Metrics): Chart {
  const chart: Chart = { id: 'speed', title: 'Images per second', caption: 'Training throughput per logged window (evaluation time excluded).' };
  if (m.steps.length === 0) return { ...chart, missing: 'no step lines in metrics.jsonl' };
  return {
    ...chart,
    spec: {
      config: CONFIG,
      width: W,
      height: H,
      data: { values: m.steps.map((l) => ({ run: l.run, step: l.step, images_per_sec: l.images_per_sec })) },
      mark: { type: 'line', point: { filled: true, size: 36 } },
      encoding: {
        x: stepAxis(m),
        y: { field: 'images_per_sec', type: 'quantitative', title: 'images/s' },
        color: { field: 'run', type: 'nominal', title: 'run', scale: runColors(runsOf(m)) },
        tooltip: [{ field: 'run' }, { field: 'step' }, { field: 'images_per_sec', title: 'images/s', format: '.1f' }],
      },
    },
  };
}

const PARTS = ['compute', 'exchange', 'waiting'] as const;

export function breakdownChart(m: Metrics): Chart {
  const chart: Chart = {
    id: 'breakdown',
    title: 'Time per step, per tower',
    caption:
      'Mean ms per training step. Compute: the tower handling requests. Exchange: step time during which even the busiest tower was not computing (data on the wire, at the coordinator, or awaited from the loader). Waiting: the busiest tower\u2019s compute minus this tower\u2019s (load imbalance). The three add up to the step time.',
  };
  const parts = breakdownOf(m);
  if (parts.length === 0) return { ...chart, missing: 'no step line in metrics.jsonl has the time breakdown (busy_ms, exchange_ms, waiting_ms): written by newer versions only' };
  const label = (b: { run: string; tower: number }): string => `${b.run} \u00b7 tower ${b.tower}`;
  const order = parts.map(label);
  const rows = parts.flatMap((b) => PARTS.map((part, k) => ({ bar: label(b), part, k, ms: b[part] })));
  const totals = parts.map((b) => ({ bar: label(b), total: b.compute + b.exchange + b.waiting }));
  const y = { field: 'bar', type: 'nominal', title: null, sort: order } as const;
  return {
    ...chart,
    spec: {
      config: CONFIG,
      width: 2 * W,
      height: { step: 26 },
      layer: [
        {
          data: { values: rows },
          mark: { type: 'bar' },
          encoding: {
            y,
            x: { field: 'ms', type: 'quantitative', title: 'ms per step', stack: 'zero' },
            color: { field: 'part', type: 'nominal', title: null, scale: { domain: [...PARTS], range: ['#4c78a8', '#e45756', '#bab0ac'] } },
            order: { field: 'k' },
            tooltip: [{ field: 'bar', title: 'tower' }, { field: 'part' }, { field: 'ms', format: '.1f' }],
          },
        },
        {
          data: { values: totals },
          mark: { type: 'text', align: 'left', dx: 4, color: '#374151' },
          encoding: { y, x: { field: 'total', type: 'quantitative' }, text: { field: 'total', format: '.1f' } },
        },
      ],
    } as TopLevelSpec,
  };
}

export const chartsOf = (m: Metrics): Chart[] => [lossChart(m), errorChart(m), speedChart(m), breakdownChart(m)];
