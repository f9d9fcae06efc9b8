/**
 * Choosing the compute backend. `auto`: TensorFlow native (tfjs-node-gpu when GPUs were asked for, else
 * tfjs-node) when it loads, else wasm (XNNPACK, SIMD) with our Conv2DBackpropFilter kernel.
 * tfjs-node-gpu has no device API: the coordinator pins each tower with CUDA_VISIBLE_DEVICES.
 */
import * as tf from '@tensorflow/tfjs';
import { CONTRACT_BACKEND, registerContractBackend } from './contract/backend.js';
import { AlexnetError } from './errors.js';
import { registerConv2DBackpropFilter } from './kernels/conv2d_backprop_filter.js';

export const BACKENDS = ['auto', 'tensorflow', 'wasm', 'cpu', CONTRACT_BACKEND] as const;
export type BackendChoice = (typeof BACKENDS)[number];

export interface BackendInfo {
  /** The TF.js backend name now active: tensorflow, wasm, cpu or tfjs-node-contract. */
  name: string;
  /** Human description, e.g. "tfjs-node-gpu (CUDA)" or "wasm (XNNPACK, SIMD, 1 thread)". */
  device: string;
  gpu: boolean;
  /** Why a preferred backend was not used, if one was skipped. */
  fallback?: string;
}

async function tryNative(gpu: boolean): Promise<string | undefined> {
  const pkg = gpu ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  try {
    await import(pkg);
    if (tf.findBackend('tensorflow') && (await tf.setBackend('tensorflow'))) return undefined;
    return `${pkg} loaded but did not register the tensorflow backend`;
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    return (e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' ? `${pkg} is not installed` : `${pkg} did not load: ${msg}`;
  }
}

async function useWasm(): Promise<void> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  registerConv2DBackpropFilter('wasm');
  // One thread per tower: each tower is its own process on its own core.
  wasm.setThreadsCount(1);
  if (!(await tf.setBackend('wasm'))) throw new AlexnetError('E_BACKEND', 'the wasm backend did not initialise');
}

export async function initBackend(choice: BackendChoice, wantGpu: boolean): Promise<BackendInfo> {
  if (choice === 'tensorflow' || choice === 'auto') {
    const why = await tryNative(wantGpu);
    if (!why) return { name: 'tensorflow', device: wantGpu ? 'tfjs-node-gpu (CUDA)' : 'tfjs-node (CPU)', gpu: wantGpu };
    if (choice === 'tensorflow') throw new AlexnetError('E_BACKEND', `--backend tensorflow: ${why}`);
    let fallback = why;
    if (wantGpu) {
      const cpuWhy = await tryNative(false);
      if (!cpuWhy) return { name: 'tensorflow', device: 'tfjs-node (CPU)', gpu: false, fallback };
      fallback = `${why}; ${cpuWhy}`;
    }
    await useWasm();
    return { name: 'wasm', device: 'wasm (XNNPACK, SIMD, 1 thread)', gpu: false, fallback };
  }
  if (choice === 'wasm') {
    await useWasm();
    return { name: 'wasm', device: 'wasm (XNNPACK, SIMD, 1 thread)', gpu: false };
  }
  if (choice === CONTRACT_BACKEND) {
    registerContractBackend();
    if (!(await tf.setBackend(CONTRACT_BACKEND))) throw new AlexnetError('E_BACKEND', `the ${CONTRACT_BACKEND} backend did not initialise`);
    return { name: CONTRACT_BACKEND, device: "tfjs-backend-cpu's kernels under tfjs-node's rules (plain JS, for tests)", gpu: false };
  }
  await tf.setBackend('cpu');
  return { name: 'cpu', device: 'cpu (plain JS)', gpu: false };
}
