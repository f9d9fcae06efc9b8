/**
 * The tfjs-node contract backend: tfjs-backend-cpu's kernels, registered under a name of their own, that
 * refuse what tfjs-node 4.22's kernels refuse (rules.ts) and lack the kernels tfjs-node lacks. Neither
 * `wasm` nor `cpu`, so every branch our code takes on a native backend runs on it. It proves our calls
 * are ones tfjs-node takes, with results checked against cpu's arithmetic; it cannot prove anything about
 * CUDA, cuDNN, the libtensorflow binding or device-to-host copies.
 *
 * One kernel computes differently, after the same rule checks: cpu's Conv2DBackpropFilter is a scalar loop
 * (7 s for conv2 of the small net at batch 16), so here it is the dilated convolution of
 * kernels/conv2d_backprop_filter.ts on cpu's Conv2D (0.2 s); the layer tests check it against tf.grad on cpu.
 */

import * as tf from '@tensorflow/tfjs';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { conv2dBackpropFilterKernel } from '../kernels/conv2d_backprop_filter.js';
import { RULES, TFJS_NODE_KERNELS } from './rules.js';

export const CONTRACT_BACKEND = 'tfjs-node-contract';

/** Kernels computed otherwise than cpu does (see the file comment). */
const FASTER: Record<string, tf.KernelFunc> = { Conv2DBackpropFilter: conv2dBackpropFilterKernel };

/** A call tfjs-node would refuse. */
export class ContractError extends Error {
  constructor(
    readonly kernel: string,
    readonly source: string,
    reason: string,
  ) {
    super(`${kernel}: ${reason} [tfjs-node rule: ${source}]`);
    this.name = 'ContractError';
  }
}

/**
 * Register the backend as `name` (idempotent). Low priority: it is never TF.js's default. `extend` adds
 * fields to the backend object (a stand-in for tfjs-node-gpu sets `isUsingGpuDevice`).
 */
export function registerContractBackend(name = CONTRACT_BACKEND, extend: object = {}): void {
  if (tf.findBackendFactory(name)) return;
  tf.registerBackend(name, () => Object.assign(new MathBackendCPU(), extend), -1);
  const cpu = new Map(tf.getKernelsForBackend('cpu').map((k) => [k.kernelName, k]));
  for (const kernel of TFJS_NODE_KERNELS) {
    const config = cpu.get(kernel);
    if (!config) continue; // tfjs-node has it, cpu does not: unusable here, and our code does not use it
    const compute = FASTER[kernel] ?? config.kernelFunc;
    const rules = RULES.filter((r) => r.kernel === kernel);
    tf.registerKernel({
      ...config,
      backendName: name,
      kernelFunc: (args) => {
        for (const r of rules) {
          const why = r.refuse(args.inputs as never, args.attrs as never);
          if (why) throw new ContractError(kernel, r.source, why);
        }
        return compute(args);
      },
    });
  }
}
