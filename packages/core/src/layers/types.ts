import type * as tf from '@tensorflow/tfjs';

/** What a layer may depend on besides its input and parameters. */
export interface StepContext {
  training: boolean;
  seed: number;
  step: number;
  /** Index of this batch part's first sample within the whole batch (micro-batches keep dropout masks fixed). */
  sampleOffset: number;
}

export interface Forward {
  y: tf.Tensor;
  /** What backward needs; owned by the caller, who disposes it after backward. */
  saved: tf.Tensor[];
}

export interface Backward {
  dx: tf.Tensor | undefined;
  /** Gradients in the order of the layer's params (weight, bias, then any derived); empty for parameter-free layers. */
  grads: tf.Tensor[];
}

/** What a backward computes; both default to true. */
export interface Wants {
  /** false: the input needs no gradient (the image), so `dx` is not computed and is undefined. */
  dx?: boolean;
  /** false: the op's parameter gradients are computed once per batch instead (see `deferredGrads`). */
  grads?: boolean;
}

/** One layer as one tower computes it: forward saves what backward needs, backward never recomputes forward. */
export interface LayerOp {
  /**
   * Extra parameter tensors the op keeps in another layout, derived from the configured ones at init (and
   * load). They follow the configured params, get gradients like them and are updated with them (weight
   * decay applies to every param but the bias, index 1); they are never reported or saved.
   */
  derive?(params: readonly tf.Tensor[]): tf.Tensor[];
  forward(x: tf.Tensor, params: readonly tf.Tensor[], ctx: StepContext): Forward;
  backward(dy: tf.Tensor, saved: readonly tf.Tensor[], params: readonly tf.Tensor[], wants?: Wants): Backward;
  /**
   * Ops whose parameter gradients are cheaper once per batch than once per micro-batch (dense: two big
   * products, whose sums would otherwise be accumulated over tens of millions of values) compute them here
   * from the saved tensors and output gradients of all micro-batches, concatenated along the batch; their
   * backward is then called with `grads: false` and returns no grads.
   */
  deferredGrads?(saved: readonly tf.Tensor[], dy: tf.Tensor, params: readonly tf.Tensor[]): tf.Tensor[];
}
