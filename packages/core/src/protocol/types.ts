/**
 * The wire protocol between coordinator and towers, shared by both ends. A message is one msgpackr header
 * frame followed by one raw frame per tensor (little-endian float32 bytes, never JSON).
 */
export const PROTOCOL_VERSION = 1;

export const DTYPES = ['float32'] as const;
export type DType = (typeof DTYPES)[number];

export interface TensorMeta {
  shape: number[];
  dtype: DType;
}

/** A tower's slice of one parameter: indices [lo, hi) of the full tensor's axis `axis` (last, or 0 for a row-split W). */
export interface ParamMeta {
  layer: string;
  param: 'weight' | 'bias';
  fullShape: number[];
  axis: number;
  lo: number;
  hi: number;
  /**
   * Which tensor of this slice: its value when absent, else a slot of the optimizer's state: `velocity`
   * (SGD's momentum), `m`, `v` (Adam's first and second moments).
   */
  slot?: 'velocity' | 'm' | 'v';
}

/** Where a gradient part belongs: shard `shard`, global channels [lo, hi). */
export interface PartMeta {
  shard: number;
  lo: number;
  hi: number;
}

/** Header fields by message kind (besides v, kind, tensors). */
export interface Bodies {
  // tower → coordinator
  /**
   * Sent on every (re)connection; `host` and `gpu` say where a tower runs (towers on other hosts), `device`
   * what it computes on (its backend on a GPU, or on the CPU).
   */
  hello: { tower: number; pid: number; host?: string; gpu?: string; device?: string };
  /**
   * `choice`: the --backend the tower was started with; `gpu`: the backend computes on a GPU (asked of it,
   * not assumed); `noGpu`: the tower was given a GPU and is not on one, and why; `warning`: about the device
   * (kernels compiled on first use, say).
   */
  ready: { tower: number; choice?: string; backend: string; device: string; gpu: boolean; fallback?: string; noGpu?: string; warning?: string; params: number };
  /** `ms`: the tower's busy time for the request (compute and encode); `layers`: per-layer ms when profiling. */
  activation: { step: number; segment: number; part: number; ms: number; layers?: number[] };
  gradient: { step: number; segment: number; part: number; parts: PartMeta[]; ms: number; layers?: number[] };
  /** `layers`, when profiling: ms per layer (all layers) of the parameter gradients deferred to the update. */
  updated: { step: number; ms: number; layers?: number[] };
  weights: { params: ParamMeta[] };
  loaded: { params: number };
  error: { code: string; message: string };
  // coordinator → tower
  /**
   * `profile`: time every layer op (replies then carry `layers`). `compute: 'none'`: skip the arithmetic
   * and answer with zeros of the right shapes (the bench's wire-only mode).
   */
  init: { tower: number; towers: number; config: unknown; profile?: boolean; compute?: 'none' };
  /** `part`: which micro-batch of the step; `sampleOffset`: its first sample's index within the batch. */
  forward: { step: number; segment: number; part: number; training: boolean; sampleOffset: number };
  backward: { step: number; segment: number; part: number };
  /** `step`: the 0-based index of the batch whose gradients are applied (Adam's bias correction uses t = step + 1). */
  update: { step: number; lr: number };
  /** `state`: also the optimizer's state of every slice (momentum, or Adam's moments: for checkpoints). */
  get_weights: { state?: boolean };
  /** Parameter values and optimizer state to load, in the layout `get_weights` with state returns. */
  load: { params: ParamMeta[] };
  /** `rejoin`: drop the model and say hello again (the run restarts), instead of exiting. */
  shutdown: { rejoin?: boolean };
}

export type Kind = keyof Bodies;
export const TOWER_TO_COORDINATOR: readonly Kind[] = ['hello', 'ready', 'activation', 'gradient', 'updated', 'weights', 'loaded', 'error'];
export const COORDINATOR_TO_TOWER: readonly Kind[] = ['init', 'forward', 'backward', 'update', 'get_weights', 'load', 'shutdown'];

export type Header<K extends Kind = Kind> = { v: number; kind: K; tensors: TensorMeta[] } & Bodies[K];

/** A decoded message: header plus one Float32Array per tensor (views of the received frames where aligned). */
export interface Message<K extends Kind = Kind> {
  header: Header<K>;
  tensors: Float32Array[];
}
