/**
 * From a planned layer and a tower index to the op that tower runs. The per-kind math is in the files
 * beside this one; here only the plan's ranges become each op's arguments.
 */
import type { PlannedLayer } from '../plan.js';
import { convOp } from './conv.js';
import { denseOp } from './dense.js';
import { dropoutOp } from './dropout.js';
import { flattenOp } from './flatten.js';
import { lrnOp } from './lrn.js';
import { maxPoolOp } from './maxpool.js';
import { reluOp } from './relu.js';
import type { LayerOp } from './types.js';

export function layerOp(p: PlannedLayer, tower: number): LayerOp {
  const { layer } = p;
  const slice = p.towers[tower]!;
  const spec = layer.spec;
  switch (spec.kind) {
    case 'conv':
      return convOp({ stride: spec.stride, pad: spec.pad, groups: slice.localGroups });
    case 'dense':
      // Row-split: every tower emits a partial sum; only tower 0 adds the bias.
      return denseOp(slice.localGroups, p.split === 'column' || tower === 0);
    case 'relu':
      return reluOp;
    case 'lrn': {
      const halo = slice.in.lo !== slice.out.lo || slice.in.hi !== slice.out.hi;
      return lrnOp({
        size: spec.size,
        k: spec.k,
        alpha: spec.alpha,
        beta: spec.beta,
        groups: slice.localGroups,
        ...(halo ? { keep: { offset: slice.out.lo - slice.in.lo, width: slice.out.hi - slice.out.lo } } : {}),
      });
    }
    case 'maxpool':
      return maxPoolOp(spec.size, spec.stride);
    case 'flatten':
      return flattenOp(layer.inShape);
    case 'dropout':
      return dropoutOp({ rate: spec.rate, stream: layer.index, fullWidth: layer.outShape[layer.outShape.length - 1]!, offset: slice.out.lo });
    case 'softmax':
      throw new Error("softmax is the coordinator's loss, not a tower layer");
  }
}

export { convBackward, convForward, convOp } from './conv.js';
export { denseForward, denseInputGrad, denseOp, denseParamGrads } from './dense.js';
export { dropoutMask, dropoutOp } from './dropout.js';
export { flattenOp } from './flatten.js';
export { lrnOp } from './lrn.js';
export { maxPoolOp } from './maxpool.js';
export { reluOp } from './relu.js';
export type { Backward, Forward, LayerOp, StepContext, Wants } from './types.js';
