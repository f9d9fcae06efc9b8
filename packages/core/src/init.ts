/**
 * Initial weights. The full (unsplit) tensors are defined by the counter-based generator at global
 * indices, so a tower can materialise only its slice and every tower count starts from the same net.
 */
import type { TrainSpec } from './config.js';
import type { Layer } from './net.js';
import { normalAt } from './rng.js';
import type { Range } from './shapes.js';
import { product } from './shapes.js';

export function initStd(layer: Layer, init: TrainSpec['init']): number {
  const own = (layer.spec as { init_std?: number }).init_std;
  if (own !== undefined) return own;
  if (init.kind === 'normal') return init.std;
  const w = layer.paramShapes[0]!;
  return Math.sqrt(2 / product(w.slice(0, -1))); // He: fan_in = all but the output axis
}

/**
 * Rows `rows` and columns `cols` (output channels/units, last axis) of layer `layer`'s full weight, and
 * the bias entries `cols`. Weight layout: conv [fh, fw, Ci/groups, Co]; dense [In/groups, U]. Column-split
 * layers take all rows; a row-split dense layer takes its input shard's rows and every column.
 */
export function initSlice(layer: Layer, cols: Range, seed: number, init: TrainSpec['init'], rows?: Range): { weight: Float32Array; bias: Float32Array } {
  const [wShape] = layer.paramShapes as [number[], number[]];
  const fullCols = wShape[wShape.length - 1]!;
  const r0 = rows?.lo ?? 0;
  const r1 = rows?.hi ?? product(wShape.slice(0, -1));
  const width = cols.hi - cols.lo;
  const std = initStd(layer, init);
  const stream = layer.index;
  const weight = new Float32Array((r1 - r0) * width);
  for (let r = r0; r < r1; r++) {
    const o = (r - r0) * width;
    for (let c = 0; c < width; c++) weight[o + c] = std * normalAt(seed, stream, r * fullCols + cols.lo + c);
  }
  const spec = layer.spec as { bias_init?: number };
  const bias = new Float32Array(width).fill(spec.bias_init ?? 0);
  return { weight, bias };
}
