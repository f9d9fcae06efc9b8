import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../errors.js';
import { decode, encode } from './codec.js';
import { COORDINATOR_TO_TOWER, TOWER_TO_COORDINATOR, TOWER_TO_TOWER } from './types.js';

const packr = new Packr({ useRecords: false });

describe('protocol codec', () => {
  it('round-trips a header and raw tensor frames', () => {
    const data = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const frames = encode('activation', { pass: 3, part: 1, ms: 1.5 }, [{ data, shape: [2, 3] }]);
    expect(frames).toHaveLength(2);
    expect(frames[1]!.buffer).toBe(data.buffer); // a view, no copy
    const m = decode(frames, TOWER_TO_COORDINATOR);
    expect(m.header).toMatchObject({ v: 2, kind: 'activation', pass: 3, part: 1 });
    expect(Array.from(m.tensors[0]!)).toEqual([1, 2, 3, 4, 5, 6]);
  });
  it('copies a misaligned frame instead of failing', () => {
    const frames = encode('activation', { pass: 0, part: 0, ms: 0 }, [{ data: Float32Array.from([7, 8]), shape: [2] }]);
    const odd = Buffer.alloc(9);
    frames[1]!.copy(odd, 1);
    expect(Array.from(decode([frames[0]!, odd.subarray(1)], TOWER_TO_COORDINATOR).tensors[0]!)).toEqual([7, 8]);
  });
  const bad: [string, Buffer[], RegExp][] = [
    ['empty', [], /empty/],
    ['not msgpack', [Buffer.from([0x92, 0x01])], /not msgpack/],
    ['not a map', [Buffer.from([0x68])], /not a map/],
    ['wrong version', [packr.pack({ v: 1, kind: 'updated', step: 1, ms: 0, tensors: [] })], /version 1 not supported/],
    ['unknown kind', [packr.pack({ v: 2, kind: 'launch_missiles', tensors: [] })], /kind "launch_missiles" not accepted/],
    ['kind for the other end', [packr.pack({ v: 2, kind: 'forward', pass: 0, step: 1, part: 0, size: 1, training: true, sampleOffset: 0, tensors: [] })], /not accepted/],
    ['missing field', [packr.pack({ v: 2, kind: 'updated', tensors: [] })], /field step must be a number/],
    ['bad dtype', [packr.pack({ v: 2, kind: 'activation', pass: 1, part: 0, ms: 0, tensors: [{ shape: [1], dtype: 'int8' }] }), Buffer.alloc(4)], /dtype "int8" not allowed/],
    ['bad shape', [packr.pack({ v: 2, kind: 'activation', pass: 1, part: 0, ms: 0, tensors: [{ shape: [-1], dtype: 'float32' }] }), Buffer.alloc(4)], /bad shape/],
    ['missing frame', [packr.pack({ v: 2, kind: 'activation', pass: 1, part: 0, ms: 0, tensors: [{ shape: [1], dtype: 'float32' }] })], /lists 1 tensors, message has 0/],
    [
      'truncated frame',
      [packr.pack({ v: 2, kind: 'activation', pass: 1, part: 0, ms: 0, tensors: [{ shape: [4], dtype: 'float32' }] }), Buffer.alloc(10)],
      /needs 16 bytes, frame has 10/,
    ],
  ];
  for (const [what, frames, msg] of bad) {
    it(`rejects ${what}`, () => {
      expect(() => decode(frames, TOWER_TO_COORDINATOR)).toThrow(ProtocolError);
      expect(() => decode(frames, TOWER_TO_COORDINATOR)).toThrow(msg);
    });
  }
  it('holds peer messages to their fields and choices, and accepts them only at a peer socket', () => {
    const body = { session: 1, pass: 0, part: 0, layer: 8, dir: 'forward' as const, from: 1, lo: 0, hi: 2 };
    const frames = encode('exchange', body, [{ data: Float32Array.from([1, 2]), shape: [1, 2] }]);
    expect(decode(frames, TOWER_TO_TOWER).header).toMatchObject(body);
    expect(() => decode(frames, COORDINATOR_TO_TOWER)).toThrow(/not accepted/);
    expect(() => decode([packr.pack({ ...body, v: 2, kind: 'exchange', dir: 'up', tensors: [] })], TOWER_TO_TOWER)).toThrow(/dir must be one of forward, backward/);
    expect(() => decode([packr.pack({ ...body, v: 2, kind: 'exchange', lo: 'zero', tensors: [] })], TOWER_TO_TOWER)).toThrow(/field lo must be a number/);
    expect(() => decode([packr.pack({ v: 2, kind: 'init', tower: 0, towers: 2, config: {}, session: 1, peers: ['ipc://a', 7], tensors: [] })], COORDINATOR_TO_TOWER)).toThrow(
      /peers must be a list of at most \d+ strings/,
    );
  });
  it('accepts coordinator kinds only at the tower', () => {
    const frames = encode('update', { step: 1, lr: 0.01 });
    expect(decode(frames, COORDINATOR_TO_TOWER).header.kind).toBe('update');
    expect(() => decode(frames, TOWER_TO_COORDINATOR)).toThrow(/not accepted/);
  });
});
