/**
 * The network as data: the validated layer table, with every layer's output shape, parameter shapes and
 * FLOPs derived by pure functions. Nothing here knows about towers; see plan.ts for the split.
 */
import type { LayerSpec, NetSpec } from './config.js';
import { ConfigError } from './errors.js';
import { product, windowOutputLength } from './shapes.js';

/** Activation shape without the batch axis: [H, W, C] for maps, [U] for vectors. */
export type Shape = readonly number[];

export interface Layer {
  readonly index: number;
  readonly name: string;
  readonly spec: LayerSpec;
  /** `layers[i]`, for error messages that name the config field. */
  readonly field: string;
  readonly inShape: Shape;
  readonly outShape: Shape;
  /** 1 for layers that read all maps; the net's `groups` for `reads: own`. */
  readonly groups: number;
  /** Full (unsplit) parameter shapes: weights then bias; empty for parameter-free layers. */
  readonly paramShapes: readonly Shape[];
  /** Multiply-adds ×2 of one image's forward pass. */
  readonly flops: number;
}

export interface Net {
  readonly spec: NetSpec;
  readonly inputShape: Shape;
  /** The compute layers; a trailing softmax is not among them (it is the coordinator's loss). */
  readonly layers: readonly Layer[];
  readonly classes: number;
}

const channels = (s: Shape): number => s[s.length - 1]!;

function groupsOf(spec: LayerSpec, net: NetSpec): number {
  return 'reads' in spec && spec.reads === 'own' ? net.groups : 1;
}

/** Infer every layer's shapes; refuse configs whose layers do not fit together, naming the field. */
export function buildNet(spec: NetSpec): Net {
  const inputShape: Shape = [spec.input.height, spec.input.width, spec.input.channels];
  const layers: Layer[] = [];
  const names = new Set<string>();
  let shape: Shape = inputShape;
  spec.layers.forEach((l, index) => {
    const field = `net.layers[${index}]`;
    const name = l.name ?? `${l.kind}${index + 1}`;
    if (names.has(name)) throw new ConfigError(`${field}.name`, `duplicate layer name "${name}"; names must be unique`);
    names.add(name);
    if (l.kind === 'softmax') {
      if (index !== spec.layers.length - 1) throw new ConfigError(`${field}.kind`, 'softmax must be the last layer (it is the loss)');
      return;
    }
    const groups = groupsOf(l, spec);
    const { out, paramShapes, flops } = layerShapes(l, shape, groups, field);
    layers.push({ index: layers.length, name, spec: l, field, inShape: shape, outShape: out, groups, paramShapes, flops });
    shape = out;
  });
  const last = layers[layers.length - 1];
  if (last?.spec.kind !== 'dense' || (last.spec as { units: number }).units !== spec.classes) {
    throw new ConfigError('net.layers', `the last compute layer must be dense with units = net.classes (${spec.classes}); it produces the logits`);
  }
  if (layers[0]!.spec.kind !== 'conv' && layers[0]!.spec.kind !== 'dense' && layers[0]!.spec.kind !== 'flatten') {
    throw new ConfigError('net.layers[0].kind', `the first layer must be conv, dense or flatten (it reads the image every tower is sent); got ${layers[0]!.spec.kind}`);
  }
  return { spec, inputShape, layers, classes: spec.classes };
}

/** A layer's output shape, parameter shapes and forward FLOPs per image, given its input shape; refuses misfits, naming the field. */
function layerShapes(l: Exclude<LayerSpec, { kind: 'softmax' }>, shape: Shape, groups: number, field: string): { out: Shape; paramShapes: Shape[]; flops: number } {
  const need = (rank: number, what: string): void => {
    if (shape.length !== rank) {
      throw new ConfigError(`${field}.kind`, `${l.kind} needs ${what} input, got shape [${shape.join(', ')}]${rank === 1 ? ' (add a flatten layer before it)' : ''}`);
    }
  };
  const divides = (count: number, key: string, what: string): void => {
    if (count % groups !== 0) {
      throw new ConfigError(`${field}.${key}`, `${what} (${count}) must be divisible by net.groups (${groups}) for reads: own`);
    }
  };
  let out: Shape;
  let paramShapes: Shape[] = [];
  let flops = 0;
  switch (l.kind) {
    case 'conv': {
      need(3, 'an [H, W, C]');
      const [h, w, c] = shape as [number, number, number];
      divides(c, 'reads', 'input channels');
      divides(l.filters, 'filters', 'filters');
      if (l.size > h + 2 * l.pad || l.size > w + 2 * l.pad) {
        throw new ConfigError(`${field}.size`, `a ${l.size}×${l.size} window does not fit input ${h}×${w} with pad ${l.pad}`);
      }
      const oh = windowOutputLength(h, l.size, l.stride, l.pad);
      const ow = windowOutputLength(w, l.size, l.stride, l.pad);
      out = [oh, ow, l.filters];
      paramShapes = [[l.size, l.size, c / groups, l.filters], [l.filters]];
      flops = 2 * oh * ow * l.filters * l.size * l.size * (c / groups);
      break;
    }
    case 'dense': {
      need(1, 'a flat [U]');
      divides(shape[0]!, 'reads', 'input units');
      divides(l.units, 'units', 'units');
      out = [l.units];
      paramShapes = [[shape[0]! / groups, l.units], [l.units]];
      flops = 2 * (shape[0]! / groups) * l.units;
      break;
    }
    case 'maxpool': {
      need(3, 'an [H, W, C]');
      const [h, w, c] = shape as [number, number, number];
      if (l.size > h || l.size > w) throw new ConfigError(`${field}.size`, `a ${l.size}×${l.size} window does not fit input ${h}×${w}`);
      out = [windowOutputLength(h, l.size, l.stride, 0), windowOutputLength(w, l.size, l.stride, 0), c];
      flops = product(out) * l.size * l.size;
      break;
    }
    case 'lrn':
      need(3, 'an [H, W, C]');
      divides(channels(shape), 'reads', 'input channels');
      out = shape;
      flops = product(shape) * (l.size + 4);
      break;
    case 'flatten':
      out = [product(shape)];
      break;
    case 'relu':
    case 'dropout':
      out = shape;
      flops = product(shape);
      break;
  }
  return { out, paramShapes, flops };
}

export const paramCount = (l: Layer): number => l.paramShapes.reduce((a, s) => a + product(s), 0);
export const totalParams = (net: Net): number => net.layers.reduce((a, l) => a + paramCount(l), 0);
export const totalFlops = (net: Net): number => net.layers.reduce((a, l) => a + l.flops, 0);
