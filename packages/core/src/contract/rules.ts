/**
 * What tfjs-node 4.22 (and tfjs-node-gpu, the same kernels over a CUDA libtensorflow 2.9.1) accepts, as
 * rules a test backend can hold our calls to. Each rule names the source it is read from; quoted
 * messages are tfjs-node's own. The kernel list is every kernel `tfjs-node/src/register_all_kernels.ts`
 * registers: a kernel missing from it does not exist on tfjs-node, whatever cpu or wasm offer.
 */
import * as tf from '@tensorflow/tfjs';

/** tfjs-node/src/register_all_kernels.ts (tfjs 4.22.0): the kernels the `tensorflow` backend has. */
export const TFJS_NODE_KERNELS: readonly string[] = (
  'Abs Acos Acosh Add AddN All Any ArgMax ArgMin Asin Asinh Atan Atan2 Atanh AvgPool AvgPool3D AvgPool3DGrad ' +
  'AvgPoolGrad BatchMatMul BatchToSpaceND Bincount BroadcastArgs Cast Ceil ClipByValue Complex ComplexAbs Concat ' +
  'Conv2D Conv2DBackpropFilter Conv2DBackpropInput Conv3D Conv3DBackpropFilterV2 Conv3DBackpropInputV2 Cos Cosh ' +
  'CropAndResize Cumprod Cumsum DepthToSpace DepthwiseConv2dNative DepthwiseConv2dNativeBackpropFilter ' +
  'DepthwiseConv2dNativeBackpropInput Diag Dilation2D Dilation2DBackpropFilter Dilation2DBackpropInput Einsum Elu ' +
  'EluGrad Equal Erf Exp ExpandDims Expm1 FFT Fill FlipLeftRight Floor FloorDiv FusedBatchNorm FusedConv2D ' +
  'FusedDepthwiseConv2D GatherNd GatherV2 Greater GreaterEqual IFFT Identity Imag IsFinite IsInf IsNan LRN LRNGrad ' +
  'LeakyRelu Less LessEqual LinSpace Log Log1p LogicalAnd LogicalNot LogicalOr Max MaxPool MaxPool3D MaxPool3DGrad ' +
  'MaxPoolGrad Maximum Mean Min Minimum MirrorPad Mod Multinomial Multiply Neg NonMaxSuppressionV3 ' +
  'NonMaxSuppressionV4 NonMaxSuppressionV5 NotEqual OneHot OnesLike Pack PadV2 Pow Prelu Prod Range Real RealDiv ' +
  'Reciprocal Relu Relu6 Reshape ResizeBilinear ResizeBilinearGrad ResizeNearestNeighbor ' +
  'ResizeNearestNeighborGrad Reverse Round Rsqrt ScatterNd Select Selu Sigmoid Sign Sin Sinh Slice Softmax ' +
  'Softplus SpaceToBatchND SparseToDense SplitV Sqrt Square SquaredDifference StaticRegexReplace Step ' +
  'StridedSlice Sub Sum Tan Tanh TensorScatterUpdate Tile TopK Transpose Unique Unpack UnsortedSegmentSum ' +
  'ZerosLike _FusedMatMul'
).split(' ');

type Inputs = Record<string, tf.TensorInfo | undefined>;
type Attrs = Record<string, unknown>;

export interface KernelRule {
  kernel: string;
  /** Where the rule comes from: a file of tensorflow/tfjs at tfjs-v4.22.0, or of TensorFlow 2.9. */
  source: string;
  /** Why tfjs-node would refuse this call, or undefined when it takes it. */
  refuse(inputs: Inputs, attrs: Attrs): string | undefined;
}

type Shape4 = [number, number, number, number];
const shape4 = (t: tf.TensorInfo | undefined): Shape4 => t!.shape as Shape4;
const dataFormat = (a: Attrs): 'channelsLast' | 'channelsFirst' => tf.backend_util.convertConv2DDataFormat((a.dataFormat as 'NHWC' | 'NCHW' | undefined) ?? 'NHWC');

/** The padding type TF.js derives from a conv call's attributes (VALID, SAME, EXPLICIT or NUMBER). */
function convPadType(xShape: Shape4, filterShape: Shape4, a: Attrs, dilations: unknown = a.dilations ?? 1): string {
  const info = tf.backend_util.computeConv2DInfo(
    xShape,
    filterShape,
    a.strides as number,
    dilations as number,
    a.pad as 'same',
    a.dimRoundingMode as 'floor' | undefined,
    false,
    dataFormat(a),
  );
  return info.padInfo.type;
}

function poolPadType(xShape: Shape4, a: Attrs): string {
  return tf.backend_util.computePool2DInfo(xShape, a.filterSize as number, a.strides as number, 1, a.pad as 'same', a.dimRoundingMode as 'floor' | undefined).padInfo.type;
}

const validOrSame = (type: string, what = 'padding'): string | undefined =>
  type === 'VALID' || type === 'SAME' ? undefined : `TF Backend supports only 'valid' and 'same' padding while ${what} was ${type}`;

/** Conv2D and FusedConv2D share conv2dImpl, which also takes EXPLICIT. */
function conv2dImplRule(inputs: Inputs, a: Attrs): string | undefined {
  const type = convPadType(shape4(inputs.x), shape4(inputs.filter), a);
  if (type !== 'VALID' && type !== 'SAME' && type !== 'EXPLICIT') return validOrSame(type);
  // Not a refusal of tfjs-node's but a silent difference: conv2dImpl hands TensorFlow no rounding mode and
  // TensorFlow floors, so another mode would give another output shape there than on every other backend.
  const mode = a.dimRoundingMode as string | undefined;
  if (type === 'EXPLICIT' && mode !== undefined && mode !== 'floor')
    return `dimRoundingMode '${mode}' is not passed to TensorFlow, which floors output sizes (tfjs-node takes the call and gives another shape)`;
  return undefined;
}

/** Conv2DBackpropFilter and Conv2DBackpropInput are run with T = float32 whatever the inputs are. */
const float32Only = (inputs: Inputs): string | undefined => {
  const other = Object.entries(inputs).find(([, t]) => t && t.dtype !== 'float32');
  return other ? `input ${other[0]} is ${other[1]!.dtype}; TensorFlow is given T = float32` : undefined;
};

/**
 * cuDNN's limits on LRN, checked by TensorFlow 2.9 before it runs LRN or LRNGrad on a GPU
 * (tensorflow/core/kernels/lrn_op.cc, LaunchLRN<GPUDevice> and LaunchLRNGrad<GPUDevice>). On tfjs-node's CPU
 * kernels any values run; a config must run on both, so the contract holds every call to them.
 */
function cudnnLrn(a: Attrs): string | undefined {
  const r = a.depthRadius as number;
  if (!(r > 0 && r <= 7)) return `cuDNN requires depth_radius in [1, 7], got: ${r} (an LRN size of ${2 * r + 1})`;
  if (!((a.beta as number) >= 0.01)) return `cuDNN requires beta >= 0.01, got: ${String(a.beta)}`;
  if (!((a.bias as number) >= 1e-5)) return `cuDNN requires bias >= 1e-5, got: ${String(a.bias)}`;
  return undefined;
}

/** `strict`: as FusedConv2D.ts, which refuses anything but the string 'NHWC' (tf.fused.conv2d always sets it). */
const nhwcOnly =
  (message: string, strict = false) =>
  (_i: Inputs, a: Attrs): string | undefined =>
    (strict ? a.dataFormat : (a.dataFormat ?? 'NHWC')) === 'NHWC' ? undefined : message;

const K = 'tfjs-node/src/kernels';

export const RULES: readonly KernelRule[] = [
  // Rules for kernels our layers do not call (AvgPool, NCHW) are here so a layer that starts calling them is held too.
  { kernel: 'Conv2D', source: `${K}/Conv2D.ts (conv2dImpl)`, refuse: conv2dImplRule },
  // TensorFlow's CPU Conv2D runs NHWC only; tfjs-node's own test run skips its NCHW conv2d tests (tfjs issue 1891).
  { kernel: 'Conv2D', source: 'tfjs-node/src/run_tests.ts (NCHW conv2d tests ignored, tfjs issue 1891)', refuse: nhwcOnly("TensorFlow's CPU Conv2D runs NHWC only") },
  { kernel: 'FusedConv2D', source: `${K}/FusedConv2D.ts`, refuse: nhwcOnly("Node backend FusedConv2D does not support dataFormat:'NCHW'. Please use 'NHWC'.", true) },
  { kernel: 'FusedConv2D', source: `${K}/Conv2D.ts (conv2dImpl, which FusedConv2D.ts calls)`, refuse: conv2dImplRule },
  {
    kernel: 'Conv2DBackpropFilter',
    source: `${K}/Conv2DBackpropFilter.ts`,
    refuse: (i, a) => validOrSame(convPadType(shape4(i.x), a.filterShape as Shape4, a, 1)) ?? float32Only(i),
  },
  {
    kernel: 'Conv2DBackpropInput',
    source: `${K}/Conv2DBackpropInput.ts`,
    refuse: (i, a) => validOrSame(convPadType(a.inputShape as Shape4, shape4(i.filter), a, 1)) ?? float32Only(i),
  },
  { kernel: 'MaxPool', source: `${K}/MaxPool.ts`, refuse: (i, a) => validOrSame(poolPadType(shape4(i.x), a)) },
  { kernel: 'MaxPoolGrad', source: `${K}/MaxPoolGrad.ts`, refuse: (i, a) => validOrSame(poolPadType(shape4(i.input), a), 'padding type') },
  { kernel: 'AvgPool', source: `${K}/AvgPool.ts`, refuse: (i, a) => validOrSame(poolPadType(shape4(i.x), a)) },
  { kernel: 'AvgPoolGrad', source: `${K}/AvgPoolGrad.ts`, refuse: (i, a) => validOrSame(poolPadType(shape4(i.input), a), 'padding type') },
  { kernel: 'LRN', source: 'tensorflow/core/kernels/lrn_op.cc (TF 2.9, LaunchLRN<GPUDevice>), under tfjs-node-gpu', refuse: (_i, a) => cudnnLrn(a) },
  { kernel: 'LRNGrad', source: 'tensorflow/core/kernels/lrn_op.cc (TF 2.9, LaunchLRNGrad<GPUDevice>), under tfjs-node-gpu', refuse: (_i, a) => cudnnLrn(a) },
];
