/**
 * Choosing the compute backend. `auto`: TensorFlow native (tfjs-node-gpu when GPUs were asked for, else
 * tfjs-node) when it loads, else wasm (XNNPACK, SIMD) with our Conv2DBackpropFilter kernel.
 * tfjs-node-gpu has no device API: the coordinator pins each tower with CUDA_VISIBLE_DEVICES. Whether a
 * tower really computes on a GPU is asked of the backend (libtensorflow falls back to the CPU silently),
 * and when it does not, gpu.ts says why.
 */
import * as tf from '@tensorflow/tfjs';
import { CONTRACT_BACKEND, registerContractBackend } from './contract/backend.js';
import { AlexnetError } from './errors.js';
import { type GpuProbe, gpuInUse, machineProbe, whyNoGpu } from './gpu.js';
import { registerKernels } from './kernels/register_all_kernels.js';

export const BACKENDS = ['auto', 'tensorflow', 'wasm', 'cpu', CONTRACT_BACKEND] as const;
export type BackendChoice = (typeof BACKENDS)[number];

export interface BackendInfo {
  /** What was asked for (--backend). */
  choice: BackendChoice;
  /** The TF.js backend name now active: tensorflow, wasm, cpu or tfjs-node-contract. */
  name: string;
  /** Human description, e.g. "tfjs-node-gpu (libtensorflow 2.9.1) on GPU 0: NVIDIA A100…" or "wasm (XNNPACK, SIMD, 1 thread)". */
  device: string;
  /** Whether it computes on a GPU: asked of the backend, not assumed from the package that loaded. */
  gpu: boolean;
  /** Why a preferred backend was not used, if one was skipped. */
  fallback?: string;
  /** A GPU was asked for and this tower is not on one: why. */
  noGpu?: string;
  /** What the user should know about the device (a GPU that compiles its kernels on first use). */
  warning?: string;
}

const WASM_DEVICE = 'wasm (XNNPACK, SIMD, 1 thread)';

/** The parts of tfjs-node's NodeJSKernelBackend read here (tfjs-node/src/nodejs_kernel_backend.ts). */
interface NativeBackend {
  isUsingGpuDevice?: boolean;
  binding?: { TF_Version?: string };
}

/** Load a native package; undefined when the tensorflow backend is active, else why not. */
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

/** The active tensorflow backend, described: on which device, and if not on a GPU that was asked for, why. */
function describeNative(choice: BackendChoice, pkg: string, wantGpu: boolean, probe: GpuProbe): BackendInfo {
  const b = tf.backend() as unknown as NativeBackend;
  const lib = b.binding?.TF_Version ? ` (libtensorflow ${b.binding.TF_Version})` : '';
  if (b.isUsingGpuDevice === true) {
    const { device, warning } = gpuInUse(probe);
    return { choice, name: 'tensorflow', device: `${pkg}${lib} on ${device}`, gpu: true, ...(warning ? { warning } : {}) };
  }
  const info: BackendInfo = { choice, name: 'tensorflow', device: `${pkg}${lib} on the CPU`, gpu: false };
  if (wantGpu) info.noGpu = pkg === '@tensorflow/tfjs-node-gpu' ? whyNoGpu(probe) : 'tfjs-node is the CPU build of libtensorflow';
  return info;
}

async function useWasm(): Promise<void> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  registerKernels('wasm');
  // One thread per tower: each tower is its own process on its own core.
  wasm.setThreadsCount(1);
  if (!(await tf.setBackend('wasm'))) throw new AlexnetError('E_BACKEND', 'the wasm backend did not initialise');
}

/**
 * Make `choice` the active backend. `wantGpu`: the tower was given a GPU (--gpu); then a tower that ends
 * on the CPU says why in `noGpu`, and the coordinator decides what that means for the run.
 */
export async function initBackend(choice: BackendChoice, wantGpu: boolean, probe: GpuProbe = machineProbe): Promise<BackendInfo> {
  const cpuOnly = (name: string, device: string, extra: Partial<BackendInfo> = {}): BackendInfo => ({
    choice,
    name,
    device,
    gpu: false,
    ...(wantGpu ? { noGpu: extra.fallback ?? `--backend ${choice} has no GPU path` } : {}),
    ...extra,
  });
  if (choice === 'tensorflow' || choice === 'auto') {
    const why = await tryNative(wantGpu);
    if (!why) return describeNative(choice, wantGpu ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node', wantGpu, probe);
    // Asked for the GPU package by name: a tower that cannot load it exits, rather than run on tfjs-node's CPU.
    if (choice === 'tensorflow' && wantGpu) throw new AlexnetError('E_BACKEND', `--backend tensorflow with a GPU: ${why}`);
    let fallback = why;
    if (wantGpu) {
      const cpuWhy = await tryNative(false);
      if (!cpuWhy) return { ...describeNative(choice, '@tensorflow/tfjs-node', false, probe), fallback: why, noGpu: why };
      fallback = `${why}; ${cpuWhy}`;
    }
    if (choice === 'tensorflow') throw new AlexnetError('E_BACKEND', `--backend tensorflow: ${fallback}`);
    await useWasm();
    return cpuOnly('wasm', WASM_DEVICE, { fallback, ...(wantGpu ? { noGpu: why } : {}) });
  }
  if (choice === 'wasm') {
    await useWasm();
    return cpuOnly('wasm', WASM_DEVICE);
  }
  if (choice === CONTRACT_BACKEND) {
    registerContractBackend();
    if (!(await tf.setBackend(CONTRACT_BACKEND))) throw new AlexnetError('E_BACKEND', `the ${CONTRACT_BACKEND} backend did not initialise`);
    return cpuOnly(CONTRACT_BACKEND, "tfjs-backend-cpu's kernels under tfjs-node's rules (plain JS, for tests)");
  }
  await tf.setBackend('cpu');
  return cpuOnly('cpu', 'cpu (plain JS)');
}
