/** One interface for every data set: the coordinator assembles batches from it. */
export interface Split {
  readonly count: number;
  label(i: number): number;
  /** Write image i ([H, W, C] float32, preprocessed) into `out` at `offset`. */
  image(i: number, out: Float32Array, offset: number): void;
}

export interface Dataset {
  readonly name: string;
  /** [H, W, C] */
  readonly shape: readonly [number, number, number];
  readonly classes: number;
  readonly classNames: readonly string[];
  readonly train: Split;
  readonly test: Split;
}

/** Images `indices` of `split` as one [B, H, W, C] array, and their labels. */
export function assemble(split: Split, shape: readonly number[], indices: ArrayLike<number>): { images: Float32Array; labels: Int32Array } {
  const size = shape.reduce((a, b) => a * b, 1);
  const images = new Float32Array(indices.length * size);
  const labels = new Int32Array(indices.length);
  for (let b = 0; b < indices.length; b++) {
    split.image(indices[b]!, images, b * size);
    labels[b] = split.label(indices[b]!);
  }
  return { images, labels };
}
