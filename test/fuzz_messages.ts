/** The fuzz tests' messages: random and mutated coordinator → tower messages, and the peer streams' framing. */
import { createRequire } from 'node:module';
import { COORDINATOR_TO_TOWER, encode, PROTOCOL_VERSION } from '@alexnet/core';

export const { pack } = createRequire(import.meta.url)('msgpackr') as { pack: (x: unknown) => Buffer };
/** Message n of the fuzz: random bytes, or a header with one thing wrong, or a well-formed message out of turn. */
export function fuzzMessage(rand: () => number, n: number): Buffer[] {
  const bytes = (len: number): Buffer => Buffer.from(Array.from({ length: len }, () => Math.floor(rand() * 256)));
  const header = { v: PROTOCOL_VERSION, kind: 'forward', tensors: [{ shape: [2, 3], dtype: 'float32' }], pass: 0, step: 0, part: 0, size: 2, training: true, sampleOffset: 0 };
  const data = Buffer.alloc(24);
  switch (n % 10) {
    case 0:
      return [bytes(1 + Math.floor(rand() * 64))]; // not msgpack (or msgpack of nothing useful)
    case 1:
      return [pack({ ...header, v: PROTOCOL_VERSION + 1 + Math.floor(rand() * 9) }), data]; // unknown protocol version
    case 2:
      return [pack({ ...header, kind: ['ready', 'activation', 'weights', 'nonsense', 42][n % 5] }), data]; // wrong kind for this end
    case 3:
      return [pack({ ...header, step: 'zero' }), data]; // wrong field type
    case 4:
      return [pack({ ...header, tensors: [{ shape: [2, 3], dtype: 'float64' }] }), data]; // wrong dtype
    case 5:
      return [pack(header), data.subarray(0, Math.floor(rand() * 24))]; // truncated data frame
    case 6:
      return [pack(header)]; // a tensor promised, none sent
    case 7:
      return [pack([1, 2, 3]), data]; // header not a map
    case 8: {
      const frame = pack(header);
      const at = Math.floor(rand() * frame.length);
      frame[at] = frame[at]! ^ (1 << Math.floor(rand() * 8)); // one bit flipped
      return [frame, data];
    }
    default: {
      // well formed, out of turn: every coordinator → tower kind but shutdown, before any init
      const kinds = COORDINATOR_TO_TOWER.filter((k) => k !== 'shutdown' && k !== 'init');
      const kind = kinds[n % kinds.length]!;
      const body = {
        pass: 0,
        step: 0,
        part: 0,
        size: 2,
        training: true,
        sampleOffset: 0,
        lr: 0.1,
        params: [],
        batch: 0,
        split: 'train',
        indices: [0, 1],
        mode: 'train',
        keyBase: 0,
      };
      return encode(kind, body as never, kind === 'forward' || kind === 'backward' ? [{ data: new Float32Array(6), shape: [2, 3] }] : []);
    }
  }
}

/** A well-formed exchange header from tower 1 of session 7, for the peer-link fuzzing to mutate. */
export const exchangeHeader = () => ({
  v: PROTOCOL_VERSION,
  kind: 'exchange',
  tensors: [{ shape: [2, 3], dtype: 'float32' }],
  session: 7,
  pass: 0,
  part: 0,
  layer: 1,
  dir: 'forward',
  from: 1,
  lo: 0,
  hi: 3,
});

/** One message as the peer streams carry it: [u32 frame count][u32 length of each frame][frames]. */
export function streamMessage(frames: Buffer[]): Buffer {
  const prefix = Buffer.alloc(4 + 4 * frames.length);
  prefix.writeUInt32LE(frames.length, 0);
  frames.forEach((f, i) => prefix.writeUInt32LE(f.length, 4 + 4 * i));
  return Buffer.concat([prefix, ...frames]);
}
