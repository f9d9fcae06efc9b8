/** HTML pieces of the report: escaping, the result table, the page around the charts. No script, no external resource. */

/** Escape text for HTML element content and double- or single-quoted attributes. */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Prepare an SVG document from vega for inlining in HTML: drop the XML namespace declarations (HTML's
 * parser puts inline <svg> in the SVG namespace itself) and give its ids a prefix, so that two charts'
 * clip paths or gradients cannot collide.
 */
export function inlineSvg(svg: string, prefix: string): string {
  return svg
    .replace(/\s+xmlns(:\w+)?="[^"]*"/g, '')
    .replace(/\bid="([^"]+)"/g, `id="${prefix}-$1"`)
    .replace(/url\(#([^)]+)\)/g, `url(#${prefix}-$1)`)
    .replace(/\bhref="#([^"]+)"/g, `href="#${prefix}-$1"`);
}

export interface RunRow {
  run: string;
  towers: number;
  steps: number;
  batch: number;
  images_per_sec: number;
  final_loss: number;
  test_loss: number;
  top1_error: number;
  top5_error: number;
  crops: number;
  device: string;
  train_seconds: number;
}

const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;

export function resultTable(rows: RunRow[], speedups: { label: string; value: number }[]): string {
  const head = ['run', 'towers', 'steps × batch', 'images/s', 'final loss', 'test loss', 'top-1 error', 'top-5 error', 'train time', 'device'];
  const body = rows.map((r) =>
    [
      r.run,
      String(r.towers),
      `${r.steps} × ${r.batch}`,
      r.images_per_sec.toFixed(1),
      r.final_loss.toFixed(4),
      r.test_loss.toFixed(4),
      `${pct(r.top1_error)}${r.crops > 1 ? ` (${r.crops} crops)` : ''}`,
      pct(r.top5_error),
      `${r.train_seconds.toFixed(1)} s`,
      r.device,
    ]
      .map((c, i) => `<td${i > 0 && i < 9 ? ' class="num"' : ''}>${esc(c)}</td>`)
      .join(''),
  );
  return (
    `<table class="result"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead>` +
    `<tbody>${body.map((b) => `<tr>${b}</tr>`).join('')}</tbody></table>` +
    speedups.map((s) => `<p class="speedup">Speedup (${esc(s.label)}): <strong>${esc(s.value.toFixed(2))}×</strong></p>`).join('')
  );
}

export const CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f6f7f9; color: #111827; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 22px; margin: 0 0 2px; }
h2 { font-size: 17px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #e5e7eb; }
h3 { font-size: 14px; margin: 0 0 4px; }
.sub { color: #6b7280; margin: 0 0 16px; }
.notice { background: #fffbeb; border: 1px solid #f59e0b; border-radius: 6px; padding: 8px 12px; margin: 12px 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 16px; grid-auto-flow: dense; }
figure { margin: 0; background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; padding: 14px 16px; }
figure.wide { grid-column: 1 / -1; }
figcaption { color: #4b5563; font-size: 13px; margin-bottom: 8px; }
figure svg { display: block; max-width: 100%; height: auto; }
.missing { color: #92400e; font-style: italic; }
table { border-collapse: collapse; background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; font-size: 13px; }
th, td { padding: 6px 10px; border-bottom: 1px solid #eef0f3; text-align: left; white-space: nowrap; }
th { background: #f9fafb; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.speedup { font-size: 15px; margin: 10px 0 0; }
.scroll { overflow-x: auto; }
pre { background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; padding: 12px 14px; font: 12px/1.45 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; overflow-x: auto; }
`;
