/**
 * Softmax cross-entropy at the coordinator, on plain arrays: the logits arrive as bytes from the towers
 * and the gradient leaves as bytes, so there is nothing for a tensor library to add here.
 */
export interface LossResult {
  /** Mean cross-entropy over the batch. */
  loss: number;
  /** How many argmax predictions equal the label. */
  correct: number;
  /** ∂loss/∂logits, [batch, classes], already divided by `normalizer`. */
  dlogits: Float32Array;
}

/**
 * `logits` [batch, classes] row-major; `normalizer` is the full batch size when this is one micro-batch
 * of a larger batch (so gradients accumulate to the full batch's mean).
 */
export function softmaxCrossEntropy(logits: Float32Array, labels: ArrayLike<number>, classes: number, normalizer = labels.length): LossResult {
  const batch = labels.length;
  if (logits.length !== batch * classes) throw new Error(`softmaxCrossEntropy: ${logits.length} logits for ${batch}×${classes}`);
  const dlogits = new Float32Array(logits.length);
  const e = new Float64Array(classes);
  let loss = 0;
  let correct = 0;
  for (let b = 0; b < batch; b++) {
    const o = b * classes;
    let max = -Infinity;
    let arg = 0;
    for (let k = 0; k < classes; k++) {
      const v = logits[o + k]!;
      if (v > max) {
        max = v;
        arg = k;
      }
    }
    // each exp once (kept in double precision until the sum is known): the loss sits between forward and backward
    let sum = 0;
    for (let k = 0; k < classes; k++) sum += e[k] = Math.exp(logits[o + k]! - max);
    const label = labels[b]!;
    if (!(label >= 0 && label < classes)) throw new Error(`softmaxCrossEntropy: label ${label} of sample ${b} is outside 0..${classes - 1}`);
    loss += Math.log(sum) - (logits[o + label]! - max);
    if (arg === label) correct++;
    for (let k = 0; k < classes; k++) dlogits[o + k] = (e[k]! / sum - (k === label ? 1 : 0)) / normalizer;
  }
  return { loss: loss / batch, correct, dlogits };
}
