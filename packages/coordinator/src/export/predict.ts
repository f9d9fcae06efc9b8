/**
 * Predict: the top classes of image files under an exported model (`export --format tfjs`). Each image is
 * made into the net's input as evaluation made its test images (preprocess.ts, with the folders reader's
 * decoding and the loader's render), the model's forward pass ends in its softmax, and the k most probable
 * classes are returned with their names from the data set.
 */
import { AlexnetError } from '@alexnet/core';
import * as tf from '@tensorflow/tfjs';
import { imageBatch, readPreprocess } from './preprocess.js';
import { loadLayersModelFrom } from './tfjs_files.js';

export interface Prediction {
  file: string;
  /** Most probable first (ties: the lower class index first). */
  top: { class: string; index: number; probability: number }[];
}

/** Images per forward pass, so a long list of files does not make one batch of activations as long. */
const CHUNK = 32;

export async function predict(modelDir: string, images: string[], top = 5): Promise<Prediction[]> {
  if (images.length === 0) throw new AlexnetError('E_PREDICT', 'no images: give one or more image files');
  // the model first: a wrong directory is named as such, not as a model without its preprocessing
  const model = await loadLayersModelFrom(modelDir);
  try {
    const pre = readPreprocess(modelDir);
    const inputs = await imageBatch(pre, images);
    const want = [null, ...pre.input].join(',');
    if (model.inputs[0]!.shape.join(',') !== want) {
      throw new AlexnetError(
        'E_PREDICT',
        `${modelDir}: the model takes [${model.inputs[0]!.shape.slice(1).join(', ')}] inputs, its preprocess.json makes [${pre.input.join(', ')}]`,
      );
    }
    const probs = forward(model, inputs, images.length, pre.input);
    const classes = probs.length / images.length;
    return images.map((file, i) => ({ file, top: topK(probs.subarray(i * classes, (i + 1) * classes), top, pre.classNames) }));
  } finally {
    model.dispose();
  }
}

/** The model's output (softmax probabilities) for `n` inputs, CHUNK at a time. */
function forward(model: tf.LayersModel, inputs: Float32Array, n: number, shape: readonly number[]): Float32Array {
  const size = inputs.length / n;
  const classes = model.outputs[0]!.shape[1]!;
  const out = new Float32Array(n * classes);
  for (let i = 0; i < n; i += CHUNK) {
    const m = Math.min(CHUNK, n - i);
    const y = tf.tidy(() => model.predict(tf.tensor(inputs.subarray(i * size, (i + m) * size), [m, ...shape])) as tf.Tensor);
    out.set(y.dataSync(), i * classes);
    y.dispose();
  }
  return out;
}

/** The k largest probabilities, most probable first, with class names. */
export function topK(probs: Float32Array, k: number, names: readonly string[]): Prediction['top'] {
  const order = Array.from(probs.keys()).sort((a, b) => probs[b]! - probs[a]! || a - b);
  return order.slice(0, k).map((index) => ({ class: names[index] ?? String(index), index, probability: probs[index]! }));
}
