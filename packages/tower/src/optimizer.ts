/**
 * A tower's optimizer: the gradients accumulated since the last update and the optimizer's state (SGD's
 * momentum, or Adam's moments) for each of its parameter slices, laid out as the model's parameters.
 */

import { accumulate, adamStep, type Config, optimizerSlots, type StateSlot, sgdStep } from '@alexnet/core';
import * as tf from '@tensorflow/tfjs';

export class SliceOptimizer {
  /** The optimizer's state slots (SGD: velocity; Adam: m, v). */
  readonly slots: readonly StateSlot[];
  /** Per slot, laid out as the params (derived copies included): state[k][layer][param] is slot k of that param. */
  state: tf.Tensor[][][];
  /** Gradients accumulated since the last update (micro-batches add up). */
  private grads: (tf.Tensor[] | undefined)[];

  constructor(
    private readonly opt: Config['train']['optimizer'],
    params: readonly tf.Tensor[][],
  ) {
    this.slots = optimizerSlots(opt.kind);
    this.state = this.slots.map(() => params.map((ps) => ps.map((p) => tf.zerosLike(p))));
    this.grads = params.map(() => undefined);
  }

  /** Add layer i's gradients of one micro-batch (they are kept past the caller's tidy). */
  accumulate(i: number, grads: tf.Tensor[]): void {
    if (grads.length === 0) return;
    grads.forEach((g) => tf.keep(g));
    const prev = this.grads[i];
    this.grads[i] = prev ? prev.map((p, j) => accumulate(p, grads[j]!)) : grads;
  }

  /**
   * One step on the accumulated gradients: the new params (the old ones are disposed), `step` being the
   * 0-based index of the batch applied (Adam's t = step + 1, so a resumed run continues its bias
   * correction). SGD, the paper's: v ← m·v − wd·lr·w − lr·g; w ← w + v. Adam: as TF.js (see
   * kernels/adam.ts), weight decay as L2 on the gradient. Weight decay on weights, not biases, as
   * cuda-convnet: every param but index 1 (a derived copy of the weights decays like them). Both are
   * element-wise, so a derived copy (dense Wᵀ, kept on wasm only) is updated from its own gradient and
   * state, which round exactly as the original's (tested).
   */
  step(params: tf.Tensor[][], lr: number, step: number): tf.Tensor[][] {
    const opt = this.opt;
    const next = params.map((ps, i) => {
      const gs = this.grads[i];
      if (ps.length === 0 || !gs) return ps;
      return ps.map((p, j) => {
        const decay = j !== 1 ? opt.weight_decay : 0;
        const old = this.state.map((s) => s[i]![j]!);
        let w: tf.Tensor;
        let fresh: tf.Tensor[];
        if (opt.kind === 'adam') {
          const r = adamStep(p, old[0]!, old[1]!, gs[j]!, { lr, beta1: opt.beta1, beta2: opt.beta2, epsilon: opt.epsilon, decay, t: step + 1 });
          w = r.w;
          fresh = [r.m, r.v];
        } else {
          const r = sgdStep(p, old[0]!, gs[j]!, lr, opt.momentum, decay);
          w = r.w;
          fresh = [r.v];
        }
        fresh.forEach((t, k) => (this.state[k]![i]![j] = t));
        old.forEach((t) => t.dispose());
        p.dispose();
        return w;
      });
    });
    this.grads.forEach((gs) => gs?.forEach((g) => g.dispose()));
    this.grads = this.grads.map(() => undefined);
    return next;
  }

  dispose(): void {
    this.state.flat(2).forEach((t) => t.dispose());
    this.grads.forEach((gs) => gs?.forEach((g) => g.dispose()));
  }
}
