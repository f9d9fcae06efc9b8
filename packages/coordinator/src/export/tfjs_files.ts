/**
 * A TF.js LayersModel on disk without tfjs-node: `model.json` (the topology and the weights manifest) and
 * one `weights.bin`, the layout `model.save('file://DIR')` writes under tfjs-node and `tf.loadLayersModel`
 * reads (a file:// URL under tfjs-node, http(s) in a browser). Plain @tensorflow/tfjs has no file system
 * handler, so saving goes through `tf.io.withSaveHandler` and loading through `tf.io.fromMemory` over the
 * files read here, which is all tfjs-node's file:// handler does.
 */
import { closeSync, existsSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { DataError } from '@alexnet/core';
import * as tf from '@tensorflow/tfjs';
import './lrn_layer.js';

export const MODEL_FILE = 'model.json';
export const WEIGHTS_FILE = 'weights.bin';

interface ModelJson {
  format: string;
  generatedBy?: string;
  convertedBy?: string | null;
  modelTopology: tf.io.ModelArtifacts['modelTopology'];
  weightsManifest: tf.io.WeightsManifestConfig;
  /** Set with model.setUserDefinedMetadata (export puts the class names there); model.getUserDefinedMetadata() after loading. */
  userDefinedMetadata?: tf.io.ModelArtifacts['userDefinedMetadata'];
}

/** Writes `model` as model.json and weights.bin in `dir` (which must exist); returns the files' paths. */
export async function saveLayersModel(model: tf.LayersModel, dir: string): Promise<string[]> {
  const files = [join(dir, MODEL_FILE), join(dir, WEIGHTS_FILE)];
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      const parts = a.weightData === undefined ? [] : Array.isArray(a.weightData) ? a.weightData : [a.weightData];
      const json: ModelJson = {
        format: 'layers-model',
        ...(a.generatedBy ? { generatedBy: a.generatedBy } : {}),
        convertedBy: 'alexnet-towers export',
        modelTopology: a.modelTopology,
        weightsManifest: [{ paths: [WEIGHTS_FILE], weights: a.weightSpecs ?? [] }],
        ...(a.userDefinedMetadata ? { userDefinedMetadata: a.userDefinedMetadata } : {}),
      };
      writeParts(files[1]!, parts);
      writeFileSync(files[0]!, JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return files;
}

function writeParts(file: string, parts: ArrayBuffer[]): void {
  const fd = openSync(file, 'w');
  try {
    for (const p of parts) writeSync(fd, new Uint8Array(p));
  } finally {
    closeSync(fd);
  }
}

/** The model saved in `dir` (model.json and the weight files its manifest lists). */
export async function loadLayersModelFrom(dir: string): Promise<tf.LayersModel> {
  const file = join(dir, MODEL_FILE);
  if (!existsSync(dir)) throw new DataError(dir, 'no such model directory');
  if (!existsSync(file)) throw new DataError(file, 'no such file: give the directory `coordinator export --format tfjs` wrote');
  let json: ModelJson;
  try {
    json = JSON.parse(readFileSync(file, 'utf8')) as ModelJson;
  } catch (e) {
    throw new DataError(file, `not a model.json: ${(e as Error).message}`);
  }
  if (!json.modelTopology || !Array.isArray(json.weightsManifest)) throw new DataError(file, 'not a TF.js LayersModel: no modelTopology or weightsManifest');
  const weightData = json.weightsManifest.flatMap((g) => g.paths.map((p) => readWeights(join(dir, p))));
  const weightSpecs = json.weightsManifest.flatMap((g) => g.weights);
  return tf.loadLayersModel(
    tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData, ...(json.userDefinedMetadata ? { userDefinedMetadata: json.userDefinedMetadata } : {}) }),
  );
}

function readWeights(file: string): ArrayBuffer {
  if (!existsSync(file)) throw new DataError(file, 'missing: model.json lists it among its weight files');
  const b = readFileSync(file);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}
