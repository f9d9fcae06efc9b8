/**
 * The wire protocol between coordinator and towers, shared by both ends. A message is one msgpackr header
 * frame followed by one raw frame per tensor (little-endian float32 bytes, never JSON).
 */
export const PROTOCOL_VERSION = 2;

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

/**
 * Per-layer ms (every layer of the net) of the work a reply accounts for, when profiling: forward and
 * backward ops since the tower's last reply.
 */
export interface LayerTimes {
  forwardLayers?: number[];
  backwardLayers?: number[];
}

/** A batch for the towers to render themselves from the store (see `prepare`). */
export interface BatchSpec {
  split: 'train' | 'test';
  indices: number[];
  mode: 'train' | 'centre' | 'ten';
  keyBase: number;
}

/** Header fields by message kind (besides v, kind, tensors). */
export interface Bodies {
  // tower → coordinator
  /**
   * Sent on every (re)connection; `host` and `gpu` say where a tower runs (towers on other hosts), `device`
   * what it computes on (its backend on a GPU, or on the CPU), `peer` where the other towers reach it.
   */
  hello: { tower: number; pid: number; host?: string; gpu?: string; device?: string; peer?: string };
  /**
   * `choice`: the --backend the tower was started with; `gpu`: the backend computes on a GPU (asked of it,
   * not assumed); `noGpu`: the tower was given a GPU and is not on one, and why; `warning`: about the device
   * (kernels compiled on first use, say); `data`: it renders its own batches (it could read the store).
   */
  ready: { tower: number; choice?: string; backend: string; device: string; gpu: boolean; fallback?: string; noGpu?: string; warning?: string; params: number; data?: boolean };
  /** The tower's output of the last layer for micro-batch `part` of pass `pass`. `ms`: busy time since its last reply. */
  activation: { pass: number; part: number; ms: number } & LayerTimes;
  /** Micro-batch `part`'s backward is done on this tower (its gradients accumulated). */
  gradient: { pass: number; part: number; ms: number } & LayerTimes;
  /** `peerSent`, `peerReceived`: payload bytes through its peer sockets so far. */
  updated: { step: number; ms: number; peerSent: number; peerReceived: number } & LayerTimes;
  weights: { params: ParamMeta[] };
  loaded: { params: number };
  prepared: { batch: number };
  error: { code: string; message: string };
  // coordinator → tower
  /**
   * `session`: tags peer messages (a restarted run drops its predecessor's); `peers`: each tower's peer
   * endpoint, by index. `profile`: time every layer op (replies then carry per-layer times). `compute:
   * 'none'`: skip the arithmetic and answer with zeros of the right shapes (the bench's wire-only mode).
   * `data`: where the stored records are, for towers that render their own batches (tensors: the mean and
   * scale of the transform, then the lighting eigenvalues and eigenvectors when present).
   */
  init: { tower: number; towers: number; config: unknown; session: number; peers: string[]; profile?: boolean; compute?: 'none'; data?: unknown };
  /** Render batch `batch` ahead, in the tower's loader thread; it is used by forwards that name it. */
  prepare: { batch: number } & BatchSpec;
  /**
   * Micro-batch `part` of pass `pass`, its `size` samples from `sampleOffset` on: the image as a tensor, or
   * those rows of prepared batch `batch`. The tower runs every segment, exchanging with its peers.
   */
  forward: { pass: number; step: number; part: number; size: number; training: boolean; sampleOffset: number; batch?: number };
  /** ∂loss/∂(this tower's logits) of micro-batch `part`: the tower runs backward through every segment. */
  backward: { pass: number; part: number };
  /** `step`: the 0-based index of the batch whose gradients are applied (Adam's bias correction uses t = step + 1). */
  update: { step: number; lr: number };
  /** `state`: also the optimizer's state of every slice (momentum, or Adam's moments: for checkpoints). */
  get_weights: { state?: boolean };
  /** Parameter values and optimizer state to load, in the layout `get_weights` with state returns. */
  load: { params: ParamMeta[] };
  /** `rejoin`: drop the model and say hello again (the run restarts), instead of exiting. */
  shutdown: { rejoin?: boolean };
  // tower → tower (the peer sockets)
  /** Columns [lo, hi) of layer `layer`'s input (forward) or its gradient (backward), from tower `from`. */
  exchange: { session: number; pass: number; part: number; layer: number; dir: 'forward' | 'backward'; from: number; lo: number; hi: number };
}

export type Kind = keyof Bodies;
export const TOWER_TO_COORDINATOR: readonly Kind[] = ['hello', 'ready', 'activation', 'gradient', 'updated', 'weights', 'loaded', 'prepared', 'error'];
export const COORDINATOR_TO_TOWER: readonly Kind[] = ['init', 'prepare', 'forward', 'backward', 'update', 'get_weights', 'load', 'shutdown'];
export const TOWER_TO_TOWER: readonly Kind[] = ['exchange'];

/** A header of kind K; `Header` alone is the union of every kind's, so `switch (h.kind)` narrows it. */
export type Header<K extends Kind = Kind> = K extends Kind ? { v: number; kind: K; tensors: TensorMeta[] } & Bodies[K] : never;

/** A decoded message: header plus one Float32Array per tensor (views of the received frames where aligned). */
export interface Message<K extends Kind = Kind> {
  header: Header<K>;
  tensors: Float32Array[];
}
