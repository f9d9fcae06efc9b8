import { describe, expect, it } from 'vitest';
import { esc, inlineSvg } from './html.js';
import { breakdownOf, parseMetrics, runsOf } from './metrics.js';

const step = (run: string, s: number, extra: object = {}) =>
  JSON.stringify({ kind: 'step', run, step: s, epoch: 1, loss: 2, accuracy: 0.5, lr: 0.01, images_per_sec: 100, data_wait_ms: 0, ...extra });

describe('parseMetrics', () => {
  it('reads step and eval lines, counts malformed ones and ignores unknown kinds', () => {
    const text = [
      step('split', 25),
      // an old line: no kind, no breakdown
      JSON.stringify({ run: 'baseline', step: 25, epoch: 1, loss: 2.1, accuracy: 0.4, lr: 0.01, images_per_sec: 50, data_wait_ms: 0 }),
      JSON.stringify({ kind: 'eval', run: 'split', step: 25, epoch: 1, lr: 0.01, images: 16, crops: 1, loss: 1.5, top1_error: 0.5, top5_error: 0.1 }),
      '{"kind":"step","run":"split","step":5', // cut off mid-write
      '[1,2]',
      JSON.stringify({ kind: 'step', run: 'split', step: 'ten', loss: 1 }), // a step line without its numbers
      JSON.stringify({ kind: 'checkpoint', run: 'split', step: 25 }),
      '',
    ].join('\n');
    const m = parseMetrics(text);
    expect(m.steps.map((l) => [l.run, l.step, l.images_per_sec])).toEqual([
      ['split', 25, 100],
      ['baseline', 25, 50],
    ]);
    expect(m.evals).toEqual([{ run: 'split', step: 25, loss: 1.5, top1_error: 0.5, top5_error: 0.1, crops: 1 }]);
    expect(m.malformed).toBe(3);
    expect(m.ignored).toBe(1);
    expect(m.steps.every((l) => l.breakdown === undefined)).toBe(true);
  });

  it('orders runs split, baseline, then the others as first seen', () => {
    const m = parseMetrics([step('half', 1), step('baseline', 1), step('split', 1), step('quarter', 1)].join('\n'));
    expect(runsOf(m)).toEqual(['split', 'baseline', 'half', 'quarter']);
  });
});

describe('breakdownOf', () => {
  it('averages each tower over the steps each window covers, from the lines that have the breakdown', () => {
    const bd = (busy: number[], exchange: number) => {
      const most = Math.max(...busy);
      return { step_ms: most + exchange, busy_ms: busy, exchange_ms: exchange, waiting_ms: busy.map((b) => most - b) };
    };
    const m = parseMetrics(
      [
        step('split', 10, bd([100, 80], 20)), // 10 steps
        step('split', 15, bd([130, 140], 10)), // 5 steps
        step('baseline', 10), // no breakdown: left out
      ].join('\n'),
    );
    const b = breakdownOf(m);
    expect(b.map((x) => [x.run, x.tower, x.steps])).toEqual([
      ['split', 0, 15],
      ['split', 1, 15],
    ]);
    expect(b[0]!.compute).toBeCloseTo((100 * 10 + 130 * 5) / 15, 10);
    expect(b[1]!.compute).toBeCloseTo((80 * 10 + 140 * 5) / 15, 10);
    expect(b[0]!.exchange).toBeCloseTo((20 * 10 + 10 * 5) / 15, 10);
    expect(b[0]!.waiting).toBeCloseTo((0 * 10 + 10 * 5) / 15, 10);
    expect(b[1]!.waiting).toBeCloseTo((20 * 10 + 0 * 5) / 15, 10);
  });
});

describe('html', () => {
  it('escapes text for content and attributes', () => {
    expect(esc(`<a href="x">'&'</a>`)).toBe('&#60;a href=&#34;x&#34;&#62;&#39;&#38;&#39;&#60;/a&#62;');
  });

  it('prefixes an SVG\u2019s ids and drops its namespace declarations', () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><clipPath id="clip1"/><g clip-path="url(#clip1)"/></svg>';
    expect(inlineSvg(svg, 'c')).toBe('<svg><clipPath id="c-clip1"/><g clip-path="url(#c-clip1)"/></svg>');
  });
});
