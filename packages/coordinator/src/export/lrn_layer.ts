/**
 * The paper's local response normalisation as a tfjs-layers layer, for exported models: tfjs-layers has no
 * LRN layer. b = a / (k + α·Σ a²)^β over `size` adjacent maps (α per squared term, as in our config and in
 * tf.localResponseNormalization), grouped like our layers/lrn.ts: with `groups` > 1 each group of maps (the
 * paper's column) normalises over its own maps only.
 *
 * A model.json from `coordinator export --format tfjs` names this layer by its class name (`AlexnetLRN`),
 * so this module must be loaded before the model is; importing it registers the class with TF.js's
 * serialization, and `@alexnet/coordinator` imports it:
 *
 *     import '@alexnet/coordinator';                 // registers AlexnetLRN
 *     const model = await tf.loadLayersModel('file://export/model.json');   // file:// needs tfjs-node
 *
 * Elsewhere (a browser, or another package) copy this class: it is the whole contract.
 */
import * as tf from '@tensorflow/tfjs';

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;

export interface LrnLayerArgs extends LayerArgs {
  /** Adjacent maps summed over (odd; the paper's n). */
  size: number;
  k: number;
  alpha: number;
  beta: number;
  /** Groups of maps normalised separately (the net's `groups` for `reads: own`, else 1). */
  groups: number;
}

export class LocalResponseNormalization extends tf.layers.Layer {
  static readonly className = 'AlexnetLRN';
  readonly size: number;
  readonly k: number;
  readonly alpha: number;
  readonly beta: number;
  readonly groups: number;

  constructor(args: LrnLayerArgs) {
    super(args);
    this.size = args.size;
    this.k = args.k;
    this.alpha = args.alpha;
    this.beta = args.beta;
    this.groups = args.groups;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0]! : inputs) as tf.Tensor4D;
      const radius = (this.size - 1) / 2;
      const parts: tf.Tensor4D[] = this.groups === 1 ? [x] : tf.split(x, this.groups, 3);
      const ys = parts.map((xi) => tf.localResponseNormalization(xi, radius, this.k, this.alpha, this.beta));
      return ys.length === 1 ? ys[0]! : tf.concat(ys, 3);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), size: this.size, k: this.k, alpha: this.alpha, beta: this.beta, groups: this.groups };
  }
}

tf.serialization.registerClass(LocalResponseNormalization);
