/**
 * From a stored image to what the net sees, per the paper (section 4.1): a crop of the net's input size
 * (random in training, the centre or the paper's ten views in evaluation), a horizontal flip, PCA lighting
 * noise, then the training set's mean subtracted and (optionally) its per-channel spread divided out.
 *
 * Everything random is drawn from the counter-based RNG at (seed, stream, key): `key` is the sample's
 * global position in training (step × batch + index in the batch), so a batch is the same whichever loader
 * thread makes it, and a resumed run sees exactly the batches an uninterrupted one would.
 */
import { normalAt, uniformAt } from '../rng.js';
import type { StoreDType } from './store.js';

/** Principal components of the training set's RGB values: `vectors[k]` is the k-th unit eigenvector. */
export interface Eigen {
  values: number[];
  vectors: number[][];
}

export interface TransformSpec {
  /** Stored image [H, W, C] and the net's input [h, w, C]. */
  stored: readonly [number, number, number];
  out: readonly [number, number, number];
  dtype: StoreDType;
  crop: boolean;
  flip: boolean;
  /** σ of the lighting αi; 0 = off. */
  lighting: number;
  /** Subtracted per stored position and channel ([H × W × C]: the mean image, or the mean pixel repeated, or zeros). */
  mean: Float32Array;
  /** Multiplied per channel after the mean is subtracted (1 / std, or 1). */
  scale: Float32Array;
  /** For lighting noise: PCA of RGB values in [0, 1]; `unit` converts back to stored values (255 for uint8). */
  eigen?: Eigen;
  unit: number;
  seed: number;
}

/** Where a view is cut from the stored image, whether it is mirrored, and the RGB shift lighting adds. */
export interface View {
  y: number;
  x: number;
  flip: boolean;
  shift?: [number, number, number];
}

/**
 * The RNG streams of augmentation: uniforms (crop y, crop x, flip) and normals (3 lighting αs), each at
 * sample key × 3 + j. Two streams, because a normal consumes two uniforms of its own stream; far from the
 * small stream numbers the weights (layer index) and dropout use.
 */
const CROP_STREAM = 0x61750001;
const LIGHT_STREAM = 0x61750002;

/** A training view of sample `key`: random crop position and flip, lighting αi ~ N(0, σ). */
export function trainView(spec: TransformSpec, key: number): View {
  const [H, W] = spec.stored;
  const [h, w] = spec.out;
  const u = (j: number): number => uniformAt(spec.seed, CROP_STREAM, key * 3 + j);
  const view: View = spec.crop ? { y: Math.floor(u(0) * (H - h + 1)), x: Math.floor(u(1) * (W - w + 1)), flip: false } : centreView(spec);
  if (spec.flip) view.flip = u(2) < 0.5;
  if (spec.lighting > 0 && spec.eigen) {
    const alpha = [0, 1, 2].map((k) => spec.lighting * normalAt(spec.seed, LIGHT_STREAM, key * 3 + k));
    view.shift = lightingShift(spec.eigen, alpha, spec.unit);
  }
  return view;
}

/** The paper's lighting noise: [p1 p2 p3]·[α1λ1 α2λ2 α3λ3]ᵀ, in stored units. */
export function lightingShift(eigen: Eigen, alpha: readonly number[], unit: number): [number, number, number] {
  const shift: [number, number, number] = [0, 0, 0];
  for (let k = 0; k < 3; k++) {
    const a = alpha[k]! * eigen.values[k]! * unit;
    for (let c = 0; c < 3; c++) shift[c]! += eigen.vectors[k]![c]! * a;
  }
  return shift;
}

export function centreView(spec: TransformSpec): View {
  return { y: Math.floor((spec.stored[0] - spec.out[0]) / 2), x: Math.floor((spec.stored[1] - spec.out[1]) / 2), flip: false };
}

/** The paper's ten test views: the four corners and the centre, then the same five mirrored. */
export function tenViews(spec: TransformSpec): View[] {
  const [H, W] = spec.stored;
  const [h, w] = spec.out;
  const c = centreView(spec);
  const five = [
    { y: 0, x: 0 },
    { y: 0, x: W - w },
    { y: H - h, x: 0 },
    { y: H - h, x: W - w },
    { y: c.y, x: c.x },
  ];
  return [...five.map((p) => ({ ...p, flip: false })), ...five.map((p) => ({ ...p, flip: true }))];
}

/** Cut `view` out of one stored record into `out` at `offset` ([h, w, C] float32), shifted, mean-subtracted, scaled. */
export function render(spec: TransformSpec, record: Uint8Array | Float32Array, view: View, out: Float32Array, offset: number): void {
  const [, W, C] = spec.stored;
  const [h, w] = spec.out;
  const { mean, scale } = spec;
  const shift = view.shift;
  let o = offset;
  for (let y = 0; y < h; y++) {
    const row = (view.y + y) * W;
    for (let x = 0; x < w; x++) {
      const s = (row + view.x + (view.flip ? w - 1 - x : x)) * C;
      for (let c = 0; c < C; c++) out[o++] = (record[s + c]! + (shift ? shift[c]! : 0) - mean[s + c]!) * scale[c]!;
    }
  }
}
