/**
 * Conv2DBackpropFilter for the wasm backend, which does not ship one (so training on wasm fails without it).
 *
 * The filter gradient is itself a convolution. With x [N,H,W,Ci] and dy [N,Ho,Wo,Co]:
 *   dW[kh,kw,ci,co] = Σ_n,i,j x[n, i·s + kh − pt, j·s + kw − pl, ci] · dy[n, i, j, co]
 * Treat Ci as the batch and N as the channels: xT = x → [Ci,H,W,N] and dyT = dy → [Ho,Wo,N,Co] as a filter;
 * a stride-1 convolution of xT with dyT dilated by the forward stride gives [Ci, ≥fh, ≥fw, Co]; slice to
 * the filter size and transpose to [fh,fw,Ci,Co]. It runs on the backend's own (XNNPACK) conv kernel.
 */
import * as tf from '@tensorflow/tfjs';

interface Attrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

/** The computation, on tensors; exported for tests and for backends that lack the kernel. */
export function conv2dBackpropFilterViaConv(x: tf.Tensor4D, dy: tf.Tensor4D, attrs: Attrs): tf.Tensor4D {
  return tf.tidy(() => {
    if (attrs.dataFormat !== 'NHWC') throw new Error(`Conv2DBackpropFilter (wasm): only NHWC is supported, got ${attrs.dataFormat}`);
    const [fh, fw, ci, co] = attrs.filterShape;
    const info = tf.backend_util.computeConv2DInfo(x.shape, attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast');
    const { top, bottom, left, right } = info.padInfo;
    const xT = tf.transpose(x, [3, 1, 2, 0]); // [Ci, H, W, N]
    const dyT = tf.transpose(dy, [1, 2, 0, 3]); // [Ho, Wo, N, Co]
    const full = tf.conv2d(
      xT,
      dyT,
      1,
      [
        [0, 0],
        [top, bottom],
        [left, right],
        [0, 0],
      ],
      'NHWC',
      [info.strideHeight, info.strideWidth],
    );
    const cut = full.shape[1] === fh && full.shape[2] === fw ? full : tf.slice(full, [0, 0, 0, 0], [ci, fh, fw, co]);
    return tf.transpose(cut, [1, 2, 0, 3]);
  });
}

/**
 * The kernel function: wraps the engine's tensor infos as tensors, computes, and hands back a tensor info
 * the engine owns.
 */
export const conv2dBackpropFilterKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const engine = tf.engine();
  const refs = backend as unknown as { incRef(id: object): void };
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  // Wrapping a tensor info does not take a backend reference, but disposing the wrapper releases one:
  // take one per wrapper so the caller's x and dy survive.
  refs.incRef(x.dataId);
  refs.incRef(dy.dataId);
  const xt = engine.makeTensorFromTensorInfo(x) as tf.Tensor4D;
  const dyt = engine.makeTensorFromTensorInfo(dy) as tf.Tensor4D;
  try {
    const result = conv2dBackpropFilterViaConv(xt, dyt, attrs as unknown as Attrs);
    // Hand the engine a tensor info it owns: keep the data alive past our wrapper's disposal.
    refs.incRef(result.dataId);
    const info: tf.TensorInfo = { dataId: result.dataId, shape: result.shape, dtype: result.dtype };
    result.dispose();
    return info;
  } finally {
    xt.dispose();
    dyt.dispose();
  }
};

/** The kernel as tfjs registers it (see register_all_kernels.ts). */
export const conv2dBackpropFilterConfig: tf.KernelConfig = { kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2dBackpropFilterKernel };
