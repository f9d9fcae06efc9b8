/** One batch of images from stored records: the work a loader thread does per request (also callable in-thread). */
import type { RecordReader } from './records.js';
import { centreView, render, type TransformSpec, tenViews, trainView } from './transform.js';

/** `train`: random views (keyed by `keyBase + i`); `centre`: the centre crop; `ten`: the ten views of each image, in order. */
export type ViewMode = 'train' | 'centre' | 'ten';

export const viewsPer = (mode: ViewMode): number => (mode === 'ten' ? 10 : 1);

export function renderBatch(reader: RecordReader, spec: TransformSpec, indices: ArrayLike<number>, mode: ViewMode, keyBase = 0): Float32Array {
  const size = spec.out[0] * spec.out[1] * spec.out[2];
  const views = viewsPer(mode);
  const out = new Float32Array(indices.length * views * size);
  const ten = mode === 'ten' ? tenViews(spec) : [];
  const centre = centreView(spec);
  for (let i = 0; i < indices.length; i++) {
    const record = reader.read(indices[i]!);
    if (mode === 'ten') ten.forEach((v, j) => render(spec, record, v, out, (i * 10 + j) * size));
    else render(spec, record, mode === 'train' ? trainView(spec, keyBase + i) : centre, out, i * size);
  }
  return out;
}
