/**
 * Export gives back the split model (acceptance 2 and 3 of issue 5): the towers' merged weights, exported
 * as a TF.js LayersModel and loaded with `tf.loadLayersModel`, compute what the 2-tower split computes on
 * the same inputs, for the small config (trained a few steps) and the paper's net (its random init); and
 * the safetensors export, read by an independent reader written here from the format's spec, holds every
 * tensor bit for bit.
 *
 * The model is loaded through an IOHandler written here over the exported files (model.json's topology,
 * its manifest's weight specs, the .bin files concatenated): what `tf.loadLayersModel('file://…')` does
 * under tfjs-node, which this project does not install.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportCommand, exportModel, openData, preprocessOf, readBatch, Session, softmaxRows, writeCheckpoint } from '@alexnet/coordinator';
import { type Config, initBackend, loadConfig, normalAt, parseConfig } from '@alexnet/core';
import * as tf from '@tensorflow/tfjs';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { root } from './helpers.js';

type Tensors = Map<string, { shape: number[]; data: Float32Array }>;

const dir = mkdtempSync(join(tmpdir(), 'alexnet-export-'));
const log = pino({ level: 'silent' });
const sessions: Session[] = [];
await initBackend('wasm', false);

afterAll(() => {
  sessions.forEach((s) => s.abort());
  rmSync(dir, { recursive: true, force: true });
});

/** A 2-tower session of `config`, trained `steps` SGD steps on its training set (0: the initial weights). */
async function splitModel(config: Config, steps: number): Promise<Session> {
  const s = await Session.start({ config, devices: ['0', '1'], backend: 'wasm', gpu: false, log });
  sessions.push(s);
  if (steps > 0) {
    const data = await openData(config);
    for (let step = 0; step < steps; step++) {
      const idx = Array.from({ length: config.train.batch }, (_, i) => step * config.train.batch + i);
      const { images, labels } = readBatch(data, 'train', idx);
      await s.trainStep(step, images, labels, config.train.optimizer.lr);
    }
  }
  return s;
}

/** The model in `out`, loaded by tf.loadLayersModel through an IOHandler over the files export wrote. */
async function loadExported(out: string): Promise<tf.LayersModel> {
  const json = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')) as {
    format: string;
    modelTopology: object;
    weightsManifest: tf.io.WeightsManifestConfig;
    userDefinedMetadata?: tf.io.ModelArtifacts['userDefinedMetadata'];
  };
  expect(json.format).toBe('layers-model');
  const bins = json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(out, p))));
  const weightData = new Uint8Array(Buffer.concat(bins)).buffer;
  const weightSpecs = json.weightsManifest.flatMap((g) => g.weights);
  return tf.loadLayersModel({
    load: async () => ({ modelTopology: json.modelTopology, weightSpecs, weightData, ...(json.userDefinedMetadata ? { userDefinedMetadata: json.userDefinedMetadata } : {}) }),
  });
}

/** The loaded model's outputs on `images`: its softmax, and the logits (the output of `logitsLayer`). */
function run(model: tf.LayersModel, images: Float32Array, shape: number[], logitsLayer: string): { probs: Float32Array; logits: Float32Array } {
  const upToLogits = tf.model({ inputs: model.inputs, outputs: model.getLayer(logitsLayer).output as tf.SymbolicTensor });
  return tf.tidy(() => {
    const x = tf.tensor(images, shape);
    return { probs: (model.predict(x) as tf.Tensor).dataSync() as Float32Array, logits: (upToLogits.predict(x) as tf.Tensor).dataSync() as Float32Array };
  });
}

const maxAbs = (a: ArrayLike<number>): number => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('export: the small config, trained 3 steps on 2 towers', () => {
  const config = loadConfig(join(root, 'configs/mnist-small.yaml'));
  let weights: Tensors;
  let images: Float32Array;
  let splitLogits: Float32Array;
  const n = 32;
  beforeAll(async () => {
    const s = await splitModel(config, 3);
    weights = await s.fullWeights();
    images = readBatch(
      await openData(config),
      'test',
      Array.from({ length: n }, (_, i) => i),
    ).images;
    splitLogits = await s.infer(images, n);
    await s.close();
  });

  it("tfjs: tf.loadLayersModel gives the split model's probabilities and logits", async () => {
    const out = join(dir, 'small-tfjs');
    const files = await exportModel(config, weights, { format: 'tfjs', out, preprocess: preprocessOf(await openData(config)) });
    expect(files.map((f) => f.slice(out.length + 1))).toEqual(['model.json', 'weights.bin', 'preprocess.json', 'mean.bin']);
    const model = await loadExported(out);
    expect(model.getUserDefinedMetadata()).toEqual({ classNames: [...'0123456789'] });
    const { probs, logits } = run(model, images, [n, 28, 28, 1], 'fc8');
    const want = softmaxRows(splitLogits, 10);
    // Measured (2026-11-28, wasm on both sides): |Δp| 1.0e-7, |Δlogit| 7.5e-7 with logits up to 0.75. Mutating
    // the export once each: dense rows not permuted after the flatten gives |Δp| 0.028, |Δlogit| 0.36;
    // group blocks swapped 0.075 and 0.72; LRN not grouped |Δlogit| 3.8e-5 (lrn_layer.test.ts checks the
    // grouping itself, where it matters more).
    expect(maxAbsDiff(probs, want)).toBeLessThan(1e-5);
    expect(maxAbsDiff(logits, splitLogits) / maxAbs(splitLogits)).toBeLessThan(1e-5);
    model.dispose();
  });

  it('safetensors: an independent reader finds every parameter and the mean image bit for bit', async () => {
    const out = join(dir, 'small-safetensors');
    const preprocess = preprocessOf(await openData(config));
    await exportModel(config, weights, { format: 'safetensors', out, preprocess });
    const { tensors, metadata } = readSafetensors(join(out, 'model.safetensors'));
    const want = new Map([...weights].filter(([k]) => !k.includes('@')));
    want.set('preprocess/mean', { shape: [28, 28, 1], data: preprocess.mean });
    expect([...tensors.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [name, t] of want) {
      expect(tensors.get(name)!.shape, name).toEqual(t.shape);
      expect(Buffer.from(tensors.get(name)!.data.buffer).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), name).toBe(true);
    }
    expect(JSON.parse(metadata.net!)).toEqual(config.net);
    expect(JSON.parse(metadata.classes!)).toEqual([...'0123456789']);
  });
});

describe('exportCommand', () => {
  it("exports a run directory's checkpoint; without the data set, exports anyway and says so", async () => {
    const config = loadConfig(join(root, 'configs/mnist-small.yaml'));
    const s = await splitModel(config, 0);
    const runDir = join(dir, 'run-elsewhere');
    mkdirSync(runDir);
    // The run's data set, image folders, is not on this machine.
    const elsewhere = { ...config, data: parseConfig({ net: config.net, data: { dataset: 'folders', train: join(dir, 'absent/train'), val: join(dir, 'absent/val') } }).data };
    writeCheckpoint(runDir, { step: 0, epoch: 0, config: elsewhere, tensors: await s.fullWeights(true) });
    await s.close();
    const out = join(dir, 'elsewhere-safetensors');
    const said = await exportCommand({ runDir, format: 'safetensors', out });
    expect(said).toContain('model.safetensors');
    expect(said).toMatch(/without preprocessing \(the data set did not open: data\.train: .*absent\/train does not exist/);
    expect(readSafetensors(join(out, 'model.safetensors')).tensors.has('preprocess/mean')).toBe(false);
  });
});

/**
 * safetensors, from its spec: u64 little-endian header length N; N bytes of JSON: per tensor dtype, shape
 * and data_offsets [begin, end) relative to the byte after the header, plus `__metadata__`; the data.
 */
function readSafetensors(file: string): { tensors: Map<string, { shape: number[]; data: Float32Array }>; metadata: Record<string, string> } {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  expect(n % 8).toBe(0);
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> & {
    __metadata__: Record<string, string>;
  };
  const body = buf.subarray(8 + n);
  const { __metadata__: metadata, ...entries } = header;
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  let covered = 0;
  for (const [name, e] of Object.entries(entries).sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0])) {
    const [begin, end] = e.data_offsets;
    expect(e.dtype).toBe('F32');
    expect(begin, `${name} follows the previous tensor`).toBe(covered);
    expect(end - begin).toBe(e.shape.reduce((a, b) => a * b, 1) * 4);
    const data = new Float32Array((end - begin) >> 2);
    for (let i = 0; i < data.length; i++) data[i] = body.readFloatLE(begin + 4 * i);
    tensors.set(name, { shape: e.shape, data });
    covered = end;
  }
  expect(covered, 'the data ends where the last tensor does').toBe(body.length);
  return { tensors, metadata };
}

describe("export: the paper's net at its random init, 2 towers", () => {
  it("tfjs: tf.loadLayersModel gives the split model's logits and probabilities on two random 227×227×3 images", async () => {
    // The paper's config names ImageNet folders that are not here; the net is what matters.
    const paper = loadConfig(join(root, 'configs/alexnet.yaml'));
    const config = parseConfig({ ...paper, data: { dataset: 'synthetic', train: 2, test: 2 } });
    const s = await splitModel(config, 0);
    const weights = await s.fullWeights();
    const n = 2;
    const images = Float32Array.from({ length: n * 227 * 227 * 3 }, (_, i) => normalAt(7, 0, i));
    const splitLogits = await s.infer(images, n);
    await s.close();
    const out = join(dir, 'paper-tfjs');
    await exportModel(config, weights, { format: 'tfjs', out });
    weights.clear();
    const model = await loadExported(out);
    const { probs, logits } = run(model, images, [n, 227, 227, 3], 'fc8');
    model.dispose();
    rmSync(out, { recursive: true, force: true });
    // Measured (2026-11-28): logits up to 2.92, |Δlogit| 7.9e-6 (2.7e-6 of their scale), |Δp| 4.5e-8 (the
    // probabilities are ~1e-3 at this init). Mutating the export once each: dense rows not permuted after
    // the flatten gives |Δlogit| 0.73 and |Δp| 2.6e-3; group blocks swapped 0.060 and 2.1e-4.
    expect(maxAbsDiff(logits, splitLogits) / maxAbs(splitLogits)).toBeLessThan(1e-4);
    expect(maxAbsDiff(probs, softmaxRows(splitLogits, 1000))).toBeLessThan(1e-6);
  });
});
