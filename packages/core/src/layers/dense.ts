/**
 * Fully connected layer, y = x·W + b with W [In/groups, U]. On a tower it is one of Megatron-LM's two
 * parallel linear layers (plan.ts chooses): column-split, a slice of W's columns over the whole (gathered)
 * input; or row-split, a slice of W's rows over the tower's own input shard, giving a partial sum that
 * the next layer's input adds up (then only tower 0 adds the bias).
 *
 * Two layouts, by backend. Plain (every backend but wasm): params [W, b], and the three products as the
 * backend's matmul takes them, transposes folded into its flags:
 *   forward  y = x·W        backward  dx = dy·Wᵀ,  dW = xᵀ·dy
 * Transposed (wasm): XNNPACK repacks a matmul's right-hand operand whenever it is a new tensor (and the
 * weights are new after every update), and transposes big operands slowly. Measured at fc6's shape
 * (16×9216 by 9216×2048): x·W 250 ms with a fresh W, against 22 ms when the big matrix is the untransposed
 * left operand. So on wasm the op keeps a second copy, Wᵀ [U, In/groups], updated alongside W from its own
 * gradient, and every product puts a weight matrix on the left, untransposed:
 *   forward  yᵀ = Wᵀ·xᵀ        backward  dxᵀ = W·dyᵀ,  dW = xᵀ·dy,  dWᵀ = dyᵀ·x
 * dW and dWᵀ sum the same products in the same order, so the copies stay exact transposes (a test checks).
 * That costs a GEMM per layer per step that only XNNPACK's packing pays back, so other backends skip it.
 */
import * as tf from '@tensorflow/tfjs';
import { concatGroups, perGroup } from './groups.js';
import type { LayerOp } from './types.js';

const rowsPerGroup = (t: tf.Tensor2D, groups: number): tf.Tensor2D[] => (groups === 1 ? [t] : (tf.split(t, groups, 0) as tf.Tensor2D[]));
const stackRows = (ts: tf.Tensor2D[]): tf.Tensor2D => (ts.length === 1 ? ts[0]! : tf.concat(ts, 0));

export type DenseLayout = 'plain' | 'transposed';

/** The layout the active backend wants (see the file comment). */
export const denseLayout = (): DenseLayout => (tf.getBackend() === 'wasm' ? 'transposed' : 'plain');

/** y = x·W + b from Wᵀ [U, In/groups]; without `b`, y = x·W (a row-split partial sum). */
export function denseForward(x: tf.Tensor2D, wT: tf.Tensor2D, b: tf.Tensor1D | undefined, groups = 1): tf.Tensor2D {
  return tf.tidy(() => {
    const ws = rowsPerGroup(wT, groups);
    const y = tf.transpose(stackRows(perGroup(x, groups).map((xi, g) => tf.matMul(ws[g]!, tf.transpose(xi)))));
    return b ? tf.add(y, b) : y;
  });
}

/** dx = dy·Wᵀ, computed as dxᵀ = W·dyᵀ (W the untransposed left operand). */
export function denseInputGrad(w: tf.Tensor2D, dy: tf.Tensor2D, groups = 1): tf.Tensor2D {
  return tf.tidy(() => {
    const ws = perGroup(w, groups);
    return tf.transpose(stackRows(perGroup(dy, groups).map((d, g) => tf.matMul(ws[g]!, tf.transpose(d)))));
  });
}

/** dW = xᵀ·dy and dWᵀ = dyᵀ·x, per group. */
export function denseParamGrads(x: tf.Tensor2D, dy: tf.Tensor2D, groups = 1): { dw: tf.Tensor2D; dwT: tf.Tensor2D } {
  return tf.tidy(() => {
    const xs = perGroup(x, groups);
    const dys = perGroup(dy, groups);
    const dw = concatGroups(xs.map((xi, g) => tf.matMul(tf.transpose(xi), dys[g]!) as tf.Tensor2D));
    const dwT = stackRows(xs.map((xi, g) => tf.matMul(tf.transpose(dys[g]!), xi)));
    return { dw, dwT };
  });
}

/** One layout's products (see the file comment): the output, the input gradient, the weight gradients. */
interface Layout {
  /** Params kept beside [W, b] (the transposed layout's Wᵀ). */
  derive?(params: readonly tf.Tensor[]): tf.Tensor[];
  forward(x: tf.Tensor2D, params: readonly tf.Tensor[], b: tf.Tensor1D | undefined, groups: number): tf.Tensor2D;
  inputGrad(params: readonly tf.Tensor[], dy: tf.Tensor2D, groups: number): tf.Tensor2D;
  /** ∂W, then the gradients of the derived params. */
  weightGrads(x: tf.Tensor2D, dy: tf.Tensor2D, groups: number): tf.Tensor[];
}

const LAYOUTS: Record<DenseLayout, Layout> = {
  plain: {
    forward: (x, [w], b, groups) =>
      tf.tidy(() => {
        const ws = perGroup(w as tf.Tensor2D, groups);
        const y: tf.Tensor2D = concatGroups(perGroup(x, groups).map((xi, g) => tf.matMul(xi, ws[g]!)));
        return b ? tf.add(y, b) : y;
      }),
    inputGrad: ([w], dy, groups) =>
      tf.tidy(() => {
        const ws = perGroup(w as tf.Tensor2D, groups);
        return concatGroups(perGroup(dy, groups).map((d, g) => tf.matMul(d, ws[g]!, false, true)));
      }),
    weightGrads: (x, dy, groups) =>
      tf.tidy(() => {
        const dys = perGroup(dy, groups);
        return [concatGroups(perGroup(x, groups).map((xi, g) => tf.matMul(xi, dys[g]!, true, false)))];
      }),
  },
  transposed: {
    derive: ([w]) => [tf.transpose(w!)],
    forward: (x, [, , wT], b, groups) => denseForward(x, wT as tf.Tensor2D, b, groups),
    inputGrad: ([w], dy, groups) => denseInputGrad(w as tf.Tensor2D, dy, groups),
    weightGrads: (x, dy, groups) => {
      const { dw, dwT } = denseParamGrads(x, dy, groups);
      return [dw, dwT];
    },
  },
};

/**
 * Params: [W, b] as configured and reported, then (transposed layout) the derived Wᵀ. `addBias` false: a
 * row-split tower other than tower 0, whose output is a partial sum; its bias is unused and gets no
 * gradient. The parameter gradients can be deferred to once per batch (see LayerOp.deferredGrads).
 */
export function denseOp(groups: number, addBias = true, layout: DenseLayout = denseLayout()): LayerOp {
  const l = LAYOUTS[layout];
  // Gradients in the params' order: ∂W, ∂b, then the derived params'.
  const grads = (x: tf.Tensor, dy: tf.Tensor, b: tf.Tensor): tf.Tensor[] => {
    const [dw, ...derived] = l.weightGrads(x as tf.Tensor2D, dy as tf.Tensor2D, groups);
    return [dw!, addBias ? tf.sum(dy, 0) : tf.zerosLike(b), ...derived];
  };
  return {
    ...(l.derive ? { derive: l.derive } : {}),
    forward: (x, params) => ({ y: l.forward(x as tf.Tensor2D, params, addBias ? (params[1] as tf.Tensor1D) : undefined, groups), saved: [x] }),
    backward: (dy, [x], params, wants = {}) => ({
      dx: wants.dx !== false ? l.inputGrad(params, dy as tf.Tensor2D, groups) : undefined,
      grads: wants.grads !== false ? grads(x!, dy, params[1]!) : [],
    }),
    deferredGrads: ([x], dy, params) => grads(x!, dy, params[1]!),
  };
}
