import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatKeyFile, readKeyPair, readPublicKey, secretKeyFile, z85Encode } from './index.js';

describe('keys', () => {
  it('encodes Z85 as RFC 32 says', () => {
    expect(z85Encode(new Uint8Array([0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b]))).toBe('HelloWorld');
    expect(() => z85Encode(new Uint8Array(3))).toThrow(/multiples of 4/);
  });

  it('reads back the files it writes, and names the file when one is wrong', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keys-'));
    const pair = { publicKey: 'rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7', secretKey: 'JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6' };
    writeFileSync(join(dir, 'tower-0.key_secret'), formatKeyFile('tower-0', pair, true));
    writeFileSync(join(dir, 'tower-0.key'), formatKeyFile('tower-0', pair, false));
    expect(readKeyPair(dir, 'tower-0')).toEqual(pair);
    expect(readPublicKey(dir, 'tower-0')).toBe(pair.publicKey);
    expect(formatKeyFile('tower-0', pair, false)).not.toContain(pair.secretKey);
    expect(() => readKeyPair(dir, 'tower-1')).toThrow(/tower-1\.key_secret does not exist: `coordinator keys --out DIR --towers N` makes them/);
    writeFileSync(secretKeyFile(dir, 'bad'), 'curve\n    public-key = "short"\n');
    expect(() => readKeyPair(dir, 'bad')).toThrow(/bad.key_secret: public-key is not a 40-character Z85 key/);
  });
});
