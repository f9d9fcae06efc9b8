import { describe, expect, it } from 'vitest';
import { safetensorsHeader } from './safetensors.js';

describe('safetensors header', () => {
  it('u64 LE length, JSON padded with spaces to a multiple of 8, contiguous offsets in the order given', () => {
    const t = (n: number) => ({ shape: [n], data: new Float32Array(n) });
    const h = safetensorsHeader(
      [
        ['b/weight', t(3)],
        ['a/bias', t(2)],
      ],
      { net: '{}' },
    );
    const n = Number(h.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    expect(h.length).toBe(8 + n);
    const json = JSON.parse(h.subarray(8).toString('utf8'));
    expect(json['b/weight']).toEqual({ dtype: 'F32', shape: [3], data_offsets: [0, 12] });
    expect(json['a/bias']).toEqual({ dtype: 'F32', shape: [2], data_offsets: [12, 20] });
    expect(json.__metadata__).toEqual({ net: '{}' });
  });
});
