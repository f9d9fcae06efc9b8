/**
 * Working on wasm tensors in place. The wasm backend keeps every tensor in its heap; copying one out
 * (dataSync) and the result back in (tf.tensor) costs two passes over memory and JS-side garbage per call.
 * These helpers hand out Float32Array views of the heap instead, and allocate outputs there.
 *
 * Never write into a tensor that a matmul or convolution has seen as an operand: XNNPACK caches packed
 * weights per tensor, so the next call would use stale values. Write only into fresh outputs, or into
 * tensors that are only ever added to (accumulated gradients).
 */
import * as tf from '@tensorflow/tfjs';

/** The parts of tfjs-backend-wasm 4.x used here (public methods of its backend class). */
interface WasmBackend {
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
}

export interface Heap {
  /** A new float32 tensor's memory (uninitialised); call `tensor` on it once filled. */
  output(shape: readonly number[]): tf.TensorInfo;
  /** A view of a tensor's values. Take views after the last `output` call: allocating may move the heap. */
  view(t: tf.TensorInfo): Float32Array;
  tensor<T extends tf.Tensor>(info: tf.TensorInfo): T;
}

/** In-place access when the active backend is wasm; undefined otherwise. */
export function wasmHeap(): Heap | undefined {
  if (tf.getBackend() !== 'wasm') return undefined;
  const b = tf.backend() as unknown as Partial<WasmBackend>;
  if (typeof b.makeOutput !== 'function' || typeof b.typedArrayFromHeap !== 'function') return undefined;
  return {
    output: (shape) => b.makeOutput!(shape.slice(), 'float32'),
    view: (t) => b.typedArrayFromHeap!(t),
    tensor: <T extends tf.Tensor>(info: tf.TensorInfo) => tf.engine().makeTensorFromTensorInfo(info) as T,
  };
}
