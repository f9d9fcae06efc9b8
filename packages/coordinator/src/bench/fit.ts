/**
 * What a TypeScript user writes today instead of this project: the config's net as a `tf.sequential()`
 * model trained with `model.fit`, on plain TF.js (its default Node backend is `cpu`; `wasm` if asked).
 * Run as its own process by the bench, so none of our kernels are registered and nothing else loads:
 *   node fit.js CONFIG.json BACKEND BATCH STEPS  →  one JSON line on stdout
 * TF.js layers have no groups, so grouped convolutions become whole ones (the "dense" net, more FLOPs),
 * and no LRN layer, so LRN is a small custom layer over tf.localResponseNormalization, as a user would.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';

interface LayerSpec {
  kind: string;
  filters?: number;
  size?: number;
  stride?: number;
  pad?: number;
  units?: number;
  rate?: number;
  k?: number;
  alpha?: number;
  beta?: number;
}

class Lrn extends tf.layers.Layer {
  static className = 'Lrn';
  constructor(private readonly spec: LayerSpec) {
    super({});
  }
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0]! : inputs) as tf.Tensor4D;
    const { size = 5, k = 2, alpha = 1e-4, beta = 0.75 } = this.spec;
    return tf.localResponseNormalization(x, (size - 1) / 2, k, alpha, beta);
  }
}

function build(net: { input: { height: number; width: number; channels: number }; layers: LayerSpec[] }): tf.Sequential {
  const model = tf.sequential();
  const inputShape = [net.input.height, net.input.width, net.input.channels];
  let first = true;
  const add = (l: tf.layers.Layer): void => {
    model.add(l);
    first = false;
  };
  const shapeArg = (): { inputShape?: number[] } => (first ? { inputShape } : {});
  for (const l of net.layers) {
    switch (l.kind) {
      case 'conv': {
        const size = l.size!;
        const pad = l.pad ?? 0;
        const stride = l.stride ?? 1;
        const same = stride === 1 && pad * 2 === size - 1;
        if (pad > 0 && !same) add(tf.layers.zeroPadding2d({ padding: pad, ...shapeArg() }));
        add(tf.layers.conv2d({ filters: l.filters!, kernelSize: size, strides: stride, padding: same ? 'same' : 'valid', ...shapeArg() }));
        break;
      }
      case 'relu':
        add(tf.layers.reLU());
        break;
      case 'lrn':
        add(new Lrn(l));
        break;
      case 'maxpool':
        add(tf.layers.maxPooling2d({ poolSize: l.size!, strides: l.stride ?? l.size! }));
        break;
      case 'flatten':
        add(tf.layers.flatten(shapeArg()));
        break;
      case 'dense':
        add(tf.layers.dense({ units: l.units!, ...shapeArg() }));
        break;
      case 'dropout':
        add(tf.layers.dropout({ rate: l.rate! }));
        break;
      case 'softmax':
        add(tf.layers.softmax());
        break;
    }
  }
  return model;
}

async function main(): Promise<void> {
  const [configFile, backend, batchArg, stepsArg] = process.argv.slice(2);
  const config = JSON.parse(readFileSync(configFile!, 'utf8')) as {
    net: Parameters<typeof build>[0] & { classes: number };
    train: { optimizer: { lr: number; momentum: number } };
  };
  const batch = Number(batchArg);
  const steps = Number(stepsArg);
  if (backend === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
  await tf.setBackend(backend!);
  await tf.ready();
  const model = build(config.net);
  model.compile({ optimizer: tf.train.momentum(config.train.optimizer.lr, config.train.optimizer.momentum), loss: 'categoricalCrossentropy' });
  const { height, width, channels } = config.net.input;
  const xs = tf.randomNormal([batch * steps, height, width, channels]);
  const ys = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: batch * steps }, (_, i) => i % config.net.classes),
      'int32',
    ),
    config.net.classes,
  );
  const times: number[] = [];
  let t0 = performance.now();
  try {
    await model.fit(xs, ys, {
      batchSize: batch,
      epochs: 1,
      shuffle: false,
      verbose: 0,
      callbacks: {
        onBatchBegin: () => {
          t0 = performance.now();
        },
        onBatchEnd: () => {
          times.push(performance.now() - t0);
        },
      },
    });
    process.stdout.write(`${JSON.stringify({ ok: true, backend: tf.getBackend(), batch, step_ms: times })}\n`);
  } catch (e) {
    process.stdout.write(`${JSON.stringify({ ok: false, backend: tf.getBackend(), batch, error: (e as Error).message.split('\n')[0] })}\n`);
  }
}

await main();
