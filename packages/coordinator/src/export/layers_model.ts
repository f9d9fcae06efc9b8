/**
 * Our layer table and its full (unsplit) parameters as one single-tower `tf.sequential` model computing
 * the same function, for `export --format tfjs`. Where tfjs-layers differs from our layers:
 * - grouped conv and dense (`reads: own` in a net with `groups` > 1): tfjs-layers has no groups, so the
 *   weights become block-diagonal, [kh, kw, Cin, Cout] and [In, U], zeros where an output group does not
 *   read an input group (group g's outputs read group g's inputs, groups in channel order, as layers/groups.ts);
 * - flatten: ours is channel-major ([N, H, W, C] → C·H·W, as cuda-convnet), Keras's Flatten runs over H, W,
 *   C; so the rows of the dense weight after a flatten are permuted, and a standard flatten gives our outputs;
 * - conv padding (ours explicit and symmetric): `same` when pad = (size − 1) / 2 at stride 1, `valid` when 0,
 *   else a zeroPadding2d layer then `valid`. Max-pooling is `valid` (floor) in both;
 * - LRN: a layer of our own (lrn_layer.ts);
 * - the softmax our coordinator applies in the loss: a final softmax activation.
 * Dropout is exported as tf.layers.dropout (the identity at inference), so the layer list reads as the config.
 */
import { AlexnetError, type Layer, type Net } from '@alexnet/core';
import * as tf from '@tensorflow/tfjs';
import { LocalResponseNormalization } from './lrn_layer.js';

export interface Param {
  shape: number[];
  data: Float32Array;
}

export type Tensors = ReadonlyMap<string, Param>;

/**
 * A grouped weight [..., In/groups, Out] (conv [kh, kw, In/groups, Out]; dense [In/groups, Out]) as the
 * equivalent ungrouped [..., In, Out]: output group g reads input rows [g·In/groups, (g+1)·In/groups).
 */
export function blockDiagonal(w: Param, groups: number): Param {
  if (groups === 1) return w;
  const rank = w.shape.length;
  const inPer = w.shape[rank - 2]!;
  const out = w.shape[rank - 1]!;
  const outPer = out / groups;
  const lead = w.shape.slice(0, -2).reduce((a, b) => a * b, 1);
  const data = new Float32Array(lead * inPer * groups * out);
  for (let p = 0; p < lead; p++) {
    for (let i = 0; i < inPer; i++) {
      const src = (p * inPer + i) * out;
      for (let g = 0; g < groups; g++) {
        const dst = ((p * groups + g) * inPer + i) * out + g * outPer;
        data.set(w.data.subarray(src + g * outPer, src + (g + 1) * outPer), dst);
      }
    }
  }
  return { shape: [...w.shape.slice(0, -2), inPer * groups, out], data };
}

/** For Keras's flatten of [H, W, C] (index (h·W + w)·C + c), the index of the same value in ours (c·H·W + h·W + w). */
export function channelMajorOrder(h: number, w: number, c: number): Uint32Array {
  const order = new Uint32Array(h * w * c);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) order[(y * w + x) * c + k] = k * h * w + y * w + x;
  return order;
}

/** Rows of an [R, cols] matrix reordered: row r of the result is row order[r] of `m`. */
export function permuteRows(m: Param, order: Uint32Array): Param {
  const cols = m.shape[1]!;
  const data = new Float32Array(m.data.length);
  order.forEach((src, r) => data.set(m.data.subarray(src * cols, (src + 1) * cols), r * cols));
  return { shape: m.shape, data };
}

/** How a conv's explicit symmetric `pad` is expressed in tfjs-layers. */
export function convPadding(size: number, stride: number, pad: number): 'valid' | 'same' | 'zero-pad' {
  if (pad === 0) return 'valid';
  return stride === 1 && 2 * pad === size - 1 ? 'same' : 'zero-pad';
}

/** `<layer>/<param>` from the tensors, checked against the net's shape for it. */
export function paramOf(tensors: Tensors, layer: Layer, which: 'weight' | 'bias'): Param {
  const key = `${layer.name}/${which}`;
  const t = tensors.get(key);
  const want = layer.paramShapes[which === 'weight' ? 0 : 1]!;
  if (!t) throw new AlexnetError('E_EXPORT', `no ${key} among the parameters: were they saved from this net?`);
  if (t.shape.join('×') !== want.join('×')) throw new AlexnetError('E_EXPORT', `${key} is ${t.shape.join('×')}, the net's is ${want.join('×')}`);
  return t;
}

/** One of our layers as tfjs-layers layers (none, one, or a padding then a conv) and the weights of the last one. */
interface Keras {
  layers: tf.layers.Layer[];
  weights?: Param[];
}

export function layersModel(net: Net, tensors: Tensors): tf.Sequential {
  const model = tf.sequential({ name: net.spec.name });
  let shapeArg: { inputShape?: number[] } = { inputShape: [...net.inputShape] };
  const first = (): { inputShape?: number[] } => {
    const a = shapeArg;
    shapeArg = {};
    return a;
  };
  /** Set after a flatten of [H, W, C]: the dense layer that reads it permutes its rows by this. */
  let order: Uint32Array | undefined;
  for (const l of net.layers) {
    const k = toKeras(l, tensors, first, order);
    if (l.spec.kind === 'flatten' && l.inShape.length === 3) order = channelMajorOrder(...(l.inShape as [number, number, number]));
    if (l.spec.kind === 'dense') order = undefined;
    k.layers.forEach((layer) => model.add(layer));
    const last = k.layers[k.layers.length - 1];
    if (last && k.weights) tf.tidy(() => last.setWeights(k.weights!.map((w) => tf.tensor(w.data, w.shape))));
  }
  const softmax = net.spec.layers.find((l) => l.kind === 'softmax');
  model.add(tf.layers.activation({ activation: 'softmax', name: softmax?.name ?? 'prob' }));
  return model;
}

function toKeras(l: Layer, tensors: Tensors, first: () => { inputShape?: number[] }, order: Uint32Array | undefined): Keras {
  const name = l.name;
  const s = l.spec;
  switch (s.kind) {
    case 'conv': {
      const padding = convPadding(s.size, s.stride, s.pad);
      const pad = padding === 'zero-pad' ? [tf.layers.zeroPadding2d({ ...first(), name: `${name}_pad`, padding: s.pad })] : [];
      const conv = tf.layers.conv2d({
        ...first(),
        name,
        filters: s.filters,
        kernelSize: s.size,
        strides: s.stride,
        padding: padding === 'same' ? 'same' : 'valid',
        kernelInitializer: 'zeros',
      });
      return { layers: [...pad, conv], weights: [blockDiagonal(paramOf(tensors, l, 'weight'), l.groups), paramOf(tensors, l, 'bias')] };
    }
    case 'dense': {
      const w = blockDiagonal(paramOf(tensors, l, 'weight'), l.groups);
      const dense = tf.layers.dense({ ...first(), name, units: s.units, kernelInitializer: 'zeros' });
      return { layers: [dense], weights: [order ? permuteRows(w, order) : w, paramOf(tensors, l, 'bias')] };
    }
    case 'relu':
      return { layers: [tf.layers.activation({ ...first(), name, activation: 'relu' })] };
    case 'lrn':
      return { layers: [new LocalResponseNormalization({ ...first(), name, size: s.size, k: s.k, alpha: s.alpha, beta: s.beta, groups: l.groups })] };
    case 'maxpool':
      return { layers: [tf.layers.maxPooling2d({ ...first(), name, poolSize: s.size, strides: s.stride, padding: 'valid' })] };
    case 'flatten':
      // On a flat input ours is the identity, and tfjs-layers' flatten wants rank ≥ 3: no layer.
      return { layers: l.inShape.length === 3 ? [tf.layers.flatten({ ...first(), name })] : [] };
    case 'dropout':
      return { layers: [tf.layers.dropout({ ...first(), name, rate: s.rate })] };
    case 'softmax': // never among net.layers (buildNet keeps it out: it is the loss); appended by layersModel
      throw new AlexnetError('E_EXPORT', `${name}: softmax is not a compute layer`);
  }
}
