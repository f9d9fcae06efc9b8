/**
 * Checkpoints: every parameter and its momentum as full (unsplit) tensors, so a run can resume on any
 * tower count, plus the step and the config. One file, laid out like safetensors: an 8-byte little-endian
 * header length, a JSON header (tensor names, shapes and offsets, and the SHA-256 of the data), then the
 * raw little-endian float32 data. Written to a temporary file, flushed, and renamed over the last one, so
 * a crash leaves either the old checkpoint or the new, never half of one. Besides the tensors: the step, the
 * epoch, and the learning-rate schedule's state. The data order (a permutation per epoch from the seed and
 * the epoch), the augmentation (from the seed and each sample's position) and the dropout masks (from the
 * step) are functions of the config's seed and the step, so they need no other state.
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { AlexnetError, type Config } from '@alexnet/core';
import type { ScheduleState } from './schedule.js';

export const CHECKPOINT_FILE = 'checkpoint.bin';
const FORMAT = 'alexnet-towers-checkpoint';

export type Tensors = Map<string, { shape: number[]; data: Float32Array }>;

export interface Checkpoint {
  /** Steps completed. */
  step: number;
  /** Epochs completed (whole ones). */
  epoch: number;
  config: Config;
  /** Absent in version-1 files (written before schedules). */
  schedule?: ScheduleState;
  tensors: Tensors;
}

interface Header {
  format: string;
  version: number;
  step: number;
  epoch: number;
  config: Config;
  schedule?: ScheduleState;
  sha256: string;
  tensors: Record<string, { shape: number[]; offset: number; length: number }>;
}

const bytes = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

export function writeCheckpoint(dir: string, c: Checkpoint): string {
  const file = join(dir, CHECKPOINT_FILE);
  const hash = createHash('sha256');
  const index: Header['tensors'] = {};
  let offset = 0;
  for (const [name, t] of c.tensors) {
    index[name] = { shape: t.shape, offset, length: t.data.length };
    offset += t.data.byteLength;
    hash.update(bytes(t.data));
  }
  const header: Header = {
    format: FORMAT,
    version: 2,
    step: c.step,
    epoch: c.epoch,
    config: c.config,
    ...(c.schedule ? { schedule: c.schedule } : {}),
    sha256: hash.digest('hex'),
    tensors: index,
  };
  const json = Buffer.from(JSON.stringify(header));
  const size = Buffer.alloc(8);
  size.writeBigUInt64LE(BigInt(json.length));
  const tmp = `${file}.tmp`;
  mkdirSync(dir, { recursive: true });
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, size);
    writeSync(fd, json);
    for (const t of c.tensors.values()) writeSync(fd, bytes(t.data));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  return file;
}

/** Read and verify the checkpoint in `dir` (or the file `dir` names). */
export function readCheckpoint(dir: string): Checkpoint {
  const file = dir.endsWith('.bin') ? dir : join(dir, CHECKPOINT_FILE);
  const fail = (why: string): never => {
    throw new AlexnetError('E_CHECKPOINT', `${file}: ${why}`);
  };
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    return fail(`cannot read: ${(e as Error).message}`);
  }
  if (buf.length < 8) fail('truncated (no header)');
  const n = Number(buf.readBigUInt64LE(0));
  if (8 + n > buf.length) fail('truncated header');
  let h: Header;
  try {
    h = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Header;
  } catch {
    return fail('header is not JSON');
  }
  if (h.format !== FORMAT || (h.version !== 1 && h.version !== 2)) fail(`not a checkpoint of this trainer (format ${JSON.stringify(h.format)}, version ${h.version})`);
  const data = buf.subarray(8 + n);
  if (createHash('sha256').update(data).digest('hex') !== h.sha256) fail('checksum mismatch: the file is corrupt or truncated');
  const aligned = new Uint8Array(data).buffer; // a copy on a fresh buffer: float32 views need 4-byte alignment
  const tensors: Tensors = new Map();
  for (const [name, t] of Object.entries(h.tensors)) {
    if (t.offset + t.length * 4 > aligned.byteLength || t.length !== t.shape.reduce((a, b) => a * b, 1)) fail(`tensor ${name} does not fit the file`);
    tensors.set(name, { shape: t.shape, data: new Float32Array(aligned, t.offset, t.length) });
  }
  // Version 1 (before schedules) kept no schedule state: it resumes at the schedule's start.
  return { step: h.step, epoch: h.epoch ?? 0, config: h.config, ...(h.schedule ? { schedule: h.schedule } : {}), tensors };
}
