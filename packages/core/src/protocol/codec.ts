/**
 * Encoding and strict decoding of protocol messages. Decoding never trusts the peer: version, kind, field
 * types, tensor shapes and frame lengths are all checked, and anything off is a ProtocolError (the socket
 * loops log it and drop the message; they never crash on it).
 */
import { Packr } from 'msgpackr';
import { ProtocolError } from '../errors.js';
import { DTYPES, type Header, type Kind, type Message, PROTOCOL_VERSION, type TensorMeta } from './types.js';

const packr = new Packr({ useRecords: false, moreTypes: false });

/** Bytes of a float32 array as a Buffer view (no copy). */
export const bytesOf = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Frames of a message: header, then each tensor's bytes as a view of its memory. */
export function encode<K extends Kind>(kind: K, body: Omit<Header<K>, 'v' | 'kind' | 'tensors'>, tensors: { data: Float32Array; shape: number[] }[] = []): Buffer[] {
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new ProtocolError(`encode ${kind}: shape [${t.shape.join(', ')}] holds ${n} values, data has ${t.data.length}`);
  }
  const header = { v: PROTOCOL_VERSION, kind, tensors: tensors.map((t) => ({ shape: t.shape, dtype: 'float32' })), ...body };
  return [packr.pack(header), ...tensors.map((t) => bytesOf(t.data))];
}

const MAX_DIMS = 8;
const MAX_VALUES = 2 ** 31 / 4;

function checkMeta(m: unknown, i: number): TensorMeta {
  const t = m as TensorMeta;
  if (typeof t !== 'object' || t === null || !Array.isArray(t.shape)) throw new ProtocolError(`tensor ${i}: missing shape`);
  if (!DTYPES.includes(t.dtype)) throw new ProtocolError(`tensor ${i}: dtype ${JSON.stringify(t.dtype)} not allowed (allowed: ${DTYPES.join(', ')})`);
  if (t.shape.length > MAX_DIMS || !t.shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new ProtocolError(`tensor ${i}: bad shape ${JSON.stringify(t.shape).slice(0, 80)}`);
  }
  if (t.shape.reduce((a, b) => a * b, 1) > MAX_VALUES) throw new ProtocolError(`tensor ${i}: shape too large`);
  return t;
}

const REQUIRED: { [K in Kind]: [string, 'number' | 'boolean' | 'string' | 'object'][] } = {
  hello: [
    ['tower', 'number'],
    ['pid', 'number'],
  ],
  ready: [
    ['tower', 'number'],
    ['backend', 'string'],
    ['device', 'string'],
    ['gpu', 'boolean'],
    ['params', 'number'],
  ],
  activation: [
    ['pass', 'number'],
    ['part', 'number'],
    ['ms', 'number'],
  ],
  gradient: [
    ['pass', 'number'],
    ['part', 'number'],
    ['ms', 'number'],
  ],
  updated: [
    ['step', 'number'],
    ['ms', 'number'],
    ['peerSent', 'number'],
    ['peerReceived', 'number'],
  ],
  weights: [['params', 'object']],
  loaded: [['params', 'number']],
  prepared: [['batch', 'number']],
  error: [
    ['code', 'string'],
    ['message', 'string'],
  ],
  init: [
    ['tower', 'number'],
    ['towers', 'number'],
    ['config', 'object'],
    ['session', 'number'],
    ['peers', 'object'],
  ],
  prepare: [
    ['batch', 'number'],
    ['split', 'string'],
    ['indices', 'object'],
    ['mode', 'string'],
    ['keyBase', 'number'],
  ],
  forward: [
    ['pass', 'number'],
    ['step', 'number'],
    ['part', 'number'],
    ['size', 'number'],
    ['training', 'boolean'],
    ['sampleOffset', 'number'],
  ],
  backward: [
    ['pass', 'number'],
    ['part', 'number'],
  ],
  update: [
    ['step', 'number'],
    ['lr', 'number'],
  ],
  get_weights: [],
  load: [['params', 'object']],
  shutdown: [],
  exchange: [
    ['session', 'number'],
    ['pass', 'number'],
    ['part', 'number'],
    ['layer', 'number'],
    ['dir', 'string'],
    ['from', 'number'],
    ['lo', 'number'],
    ['hi', 'number'],
  ],
};

/** Fields that must be one of a few values. */
const CHOICES: { [K in Kind]?: Record<string, readonly string[]> } = {
  exchange: { dir: ['forward', 'backward'] },
  prepare: { split: ['train', 'test'], mode: ['train', 'centre', 'ten'] },
  init: { compute: ['none'] },
};

/** Optional string fields: checked when present, and kept short (they end up in log lines). */
const OPTIONAL_STRINGS: { [K in Kind]?: string[] } = { hello: ['host', 'gpu', 'device', 'peer'], ready: ['choice', 'fallback', 'noGpu', 'warning'] };
const MAX_STRING = 16_000;
/** Longest list field (per-layer times, peer endpoints, a batch's sample indices). */
const MAX_LIST = 1 << 16;

/** Decode frames received from a peer; `allowed` are the kinds this end accepts. */
export function decode(frames: readonly Buffer[], allowed: readonly Kind[]): Message {
  if (frames.length === 0) throw new ProtocolError('empty message');
  let header: Header;
  try {
    header = packr.unpack(frames[0]!) as Header;
  } catch (e) {
    throw new ProtocolError(`header is not msgpack: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new ProtocolError('header is not a map');
  if (header.v !== PROTOCOL_VERSION) throw new ProtocolError(`protocol version ${JSON.stringify(header.v)} not supported (this end speaks ${PROTOCOL_VERSION})`);
  if (typeof header.kind !== 'string' || !allowed.includes(header.kind)) {
    throw new ProtocolError(`message kind ${JSON.stringify(header.kind)} not accepted here (allowed: ${allowed.join(', ')})`);
  }
  for (const [key, type] of REQUIRED[header.kind]) {
    const v = (header as unknown as Record<string, unknown>)[key];
    if (typeof v !== type || v === null || (type === 'number' && !Number.isFinite(v))) {
      throw new ProtocolError(`${header.kind}: field ${key} must be a ${type}, got ${JSON.stringify(v)?.slice(0, 40)}`);
    }
    if (type === 'string' && (v as string).length > MAX_STRING) throw new ProtocolError(`${header.kind}: field ${key} is longer than ${MAX_STRING} characters`);
  }
  for (const key of OPTIONAL_STRINGS[header.kind] ?? []) {
    const v = (header as unknown as Record<string, unknown>)[key];
    if (v !== undefined && (typeof v !== 'string' || v.length > MAX_STRING))
      throw new ProtocolError(`${header.kind}: field ${key} must be a string of at most ${MAX_STRING} characters`);
  }
  for (const [key, allowed] of Object.entries(CHOICES[header.kind] ?? {})) {
    const v = (header as unknown as Record<string, unknown>)[key];
    if (v !== undefined && !allowed.includes(v as string))
      throw new ProtocolError(`${header.kind}: field ${key} must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)?.slice(0, 40)}`);
  }
  for (const key of ['forwardLayers', 'backwardLayers', 'peers', 'indices'] as const) {
    const v = (header as unknown as Record<string, unknown>)[key];
    const item = key === 'peers' ? 'string' : 'number';
    if (v !== undefined && !(Array.isArray(v) && v.length <= MAX_LIST && v.every((x) => typeof x === item && (item === 'string' ? x.length <= MAX_STRING : Number.isFinite(x))))) {
      throw new ProtocolError(`${header.kind}: ${key} must be a list of at most ${MAX_LIST} ${item}s`);
    }
  }
  const profile = (header as { profile?: unknown }).profile;
  if (profile !== undefined && typeof profile !== 'boolean') throw new ProtocolError(`${header.kind}: profile must be a boolean`);
  if (!Array.isArray(header.tensors)) throw new ProtocolError(`${header.kind}: tensors must be a list`);
  const metas = header.tensors.map(checkMeta);
  if (frames.length - 1 !== metas.length) throw new ProtocolError(`${header.kind}: header lists ${metas.length} tensors, message has ${frames.length - 1} data frames`);
  const tensors = metas.map((m, i) => {
    const frame = frames[i + 1]!;
    const n = m.shape.reduce((a, b) => a * b, 1);
    if (frame.byteLength !== n * 4) throw new ProtocolError(`${header.kind}: tensor ${i} [${m.shape.join(', ')}] needs ${n * 4} bytes, frame has ${frame.byteLength}`);
    // A view where the frame is 4-byte aligned; otherwise one copy.
    if (frame.byteOffset % 4 === 0) return new Float32Array(frame.buffer, frame.byteOffset, n);
    return new Float32Array(frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.byteLength));
  });
  return { header, tensors };
}
