/**
 * The safetensors export, one `model.safetensors` in the format of huggingface/safetensors: an 8-byte
 * little-endian length N, N bytes of JSON header (padded with spaces to a multiple of 8), then the raw
 * little-endian data, each tensor at its header entry's `data_offsets` [begin, end), counted from the first
 * byte after the header. Loads with `safetensors.numpy.load_file` or `safetensors.torch.load_file`.
 *
 * Tensors (all F32) keep our names and layouts, as checkpoints and `Session.fullWeights()` hold them:
 *   <layer>/weight    conv [kh, kw, Cin/G, Cout]; dense [In/G, U]   (G = net.groups for `reads: own`, else 1)
 *   <layer>/bias      [Cout] or [U]
 *   preprocess/mean   [H, W, C], subtracted from the stored image (when exported with its data set)
 * A grouped layer's output group g (channels or units [g·Cout/G, (g+1)·Cout/G)) reads input group g (the
 * input channels or units [g·Cin/G, (g+1)·Cin/G)). Activations are NHWC; flatten is channel-major: [H, W, C]
 * → index c·H·W + h·W + w.
 * In PyTorch: a conv weight `.permute(3, 2, 0, 1)` is nn.Conv2d's [Cout, Cin/G, kh, kw] with `groups=G`,
 * `padding=pad`, `stride`; a dense weight `.T` is nn.Linear's [U, In] (grouped: one Linear a group, or the
 * block-diagonal); PyTorch's flatten of NCHW is channel-major too, so fc6 needs no permutation; LRN is
 * nn.LocalResponseNorm(size, alpha=α·size, beta, k) (PyTorch divides α by size), a group at a time for
 * `reads: own`; max-pool is floor mode without padding.
 * `__metadata__` (strings): `net`, the net config (the layer table) as JSON; `layout`, the conventions above
 * in short; `classes`, the class names as JSON; `preprocess`, preprocess.json's fields as JSON but the mean
 * (the tensor above); `generator`.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Param } from './layers_model.js';

export const SAFETENSORS_FILE = 'model.safetensors';

export const LAYOUT =
  'NHWC activations; conv <layer>/weight [kh, kw, Cin/G, Cout], dense [In/G, U] (G = net.groups for reads: own, else 1; ' +
  'output group g reads input group g); <layer>/bias [Cout] or [U]; flatten channel-major (c·H·W + h·W + w); ' +
  'LRN alpha per squared term; max-pool floor, no padding; conv padding explicit and symmetric (pad)';

/** The 8-byte length and the JSON header (padded with spaces to a multiple of 8) for these tensors, in order. */
export function safetensorsHeader(tensors: readonly (readonly [string, Param])[], metadata: Record<string, string>): Buffer {
  const entries: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, t] of tensors) {
    entries[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  const json = Buffer.from(JSON.stringify(entries), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  const out = Buffer.alloc(8 + padded, 0x20);
  out.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(out, 8);
  return out;
}

/** Writes the tensors (in the order given) and metadata to `file`. */
export function writeSafetensors(file: string, tensors: readonly (readonly [string, Param])[], metadata: Record<string, string>): void {
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, safetensorsHeader(tensors, metadata));
    for (const [, t] of tensors) writeSync(fd, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  } finally {
    closeSync(fd);
  }
}
