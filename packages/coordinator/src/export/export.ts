/**
 * Export: the towers' merged parameters (full, unsplit tensors, as `Session.fullWeights()` returns them and
 * checkpoints store them) as one single-tower model a user keeps.
 * - `tfjs`: a TF.js LayersModel, `model.json` + `weights.bin` (layers_model.ts says how our layers map to
 *   tfjs-layers; tfjs_files.ts how the files are written and read back without tfjs-node), and, when the data
 *   set was at hand, `preprocess.json` + `mean.bin` (preprocess.ts), all `predict` needs.
 * - `safetensors`: `model.safetensors` with our tensor names and layouts (safetensors.ts documents them),
 *   the preprocessing in it as a tensor and metadata.
 * Optimizer state (`@velocity`, `@m`, `@v` keys) is left out.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildNet, type Config, type Net } from '@alexnet/core';
import { layersModel, type Param, paramOf, type Tensors } from './layers_model.js';
import { MEAN_FILE, PREPROCESS_FILE, type Preprocess, writePreprocess } from './preprocess.js';
import { LAYOUT, SAFETENSORS_FILE, writeSafetensors } from './safetensors.js';
import { saveLayersModel } from './tfjs_files.js';

export type ExportFormat = 'tfjs' | 'safetensors';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['tfjs', 'safetensors'];

export interface ExportOptions {
  format: ExportFormat;
  /** Directory to write into (created if missing). */
  out: string;
  /** How images become inputs (from the data set: preprocessOf(openData(config))); without it predict cannot run. */
  preprocess?: Preprocess;
}

/** Writes the export; returns the paths of the files written. */
export async function exportModel(config: Config, tensors: Tensors, opts: ExportOptions): Promise<string[]> {
  const net = buildNet(config.net);
  mkdirSync(opts.out, { recursive: true });
  const classNames = opts.preprocess?.classNames;
  if (opts.format === 'safetensors') {
    const file = join(opts.out, SAFETENSORS_FILE);
    writeSafetensors(file, safetensorsTensors(net, tensors, opts.preprocess), safetensorsMetadata(config, classNames, opts.preprocess));
    return [file];
  }
  const model = layersModel(net, tensors);
  try {
    if (classNames) model.setUserDefinedMetadata({ classNames });
    const files = await saveLayersModel(model, opts.out);
    if (opts.preprocess) return [...files, ...writePreprocess(opts.out, opts.preprocess)];
    // an older export's preprocessing in the same directory would belong to another model
    for (const f of [PREPROCESS_FILE, MEAN_FILE]) rmSync(join(opts.out, f), { force: true });
    return files;
  } finally {
    model.dispose();
  }
}

/** Every layer's weight and bias in layer order (shapes checked against the net), then the mean image. */
function safetensorsTensors(net: Net, tensors: Tensors, preprocess: Preprocess | undefined): [string, Param][] {
  const params = net.layers
    .filter((l) => l.paramShapes.length > 0)
    .flatMap((l) => (['weight', 'bias'] as const).map((p): [string, Param] => [`${l.name}/${p}`, paramOf(tensors, l, p)]));
  return preprocess ? [...params, ['preprocess/mean', { shape: [...preprocess.stored], data: preprocess.mean }]] : params;
}

function safetensorsMetadata(config: Config, classNames: string[] | undefined, preprocess: Preprocess | undefined): Record<string, string> {
  const meta: Record<string, string> = { generator: 'alexnet-towers export', net: JSON.stringify(config.net), layout: LAYOUT };
  if (classNames) meta.classes = JSON.stringify(classNames);
  if (preprocess) meta.preprocess = JSON.stringify({ ...preprocess, mean: 'the tensor preprocess/mean' });
  return meta;
}
