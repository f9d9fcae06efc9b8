/**
 * The kernels we add to TF.js backends, registered from one list as tfjs-backend-wasm's
 * register_all_kernels.ts registers its own. Ours fill kernels a backend does not ship; the SGD and Adam
 * updates (sgd.ts, adam.ts) are not TF.js kernels but functions on the wasm heap.
 */
import * as tf from '@tensorflow/tfjs';
import { conv2dBackpropFilterConfig } from './conv2d_backprop_filter.js';

const KERNELS: readonly tf.KernelConfig[] = [conv2dBackpropFilterConfig];

/** Register every kernel of ours that is for `backendName` and that the backend lacks (idempotent). */
export function registerKernels(backendName: string): void {
  for (const k of KERNELS) {
    if (k.backendName === backendName && !tf.getKernel(k.kernelName, backendName)) tf.registerKernel(k);
  }
}
