/**
 * FLOPs a tower does per image, layer by layer, from the layer table and the split plan. Conv and dense
 * layers: forward 2·MACs of the tower's slice; backward the same again for the filter gradient and again
 * for the input gradient (skipped for the first layer, whose input is the image). Other layers are counted
 * as their forward cost (ReLU, LRN, pooling: memory-bound, listed for time rather than FLOPs).
 */
import type { Plan } from './plan.js';

export interface LayerFlops {
  forward: number;
  backward: number;
}

export function towerFlops(plan: Plan, tower: number): LayerFlops[] {
  return plan.layers.map((p, i) => {
    // A column split divides the outputs among the towers; a row split divides the inputs.
    const shape = p.split === 'row' ? p.layer.inShape : p.layer.outShape;
    const width = shape[shape.length - 1]!;
    const r = p.split === 'row' ? p.towers[tower]!.in : p.towers[tower]!.out;
    const forward = (p.layer.flops * (r.hi - r.lo)) / width;
    const kind = p.layer.spec.kind;
    if (kind === 'conv' || kind === 'dense') return { forward, backward: i === 0 ? forward : 2 * forward };
    return { forward, backward: forward };
  });
}

/** Forward plus backward FLOPs of one training image on one tower. */
export const trainingFlops = (plan: Plan, tower: number): number => towerFlops(plan, tower).reduce((a, l) => a + l.forward + l.backward, 0);
