/**
 * CURVE keys for towers on other hosts, in czmq's certificate files: `<name>.key` holds the public key,
 * `<name>.key_secret` the public and the secret key. `coordinator keys` writes one pair for the
 * coordinator and one per tower; each end reads its own secret file and the other end's public file.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AlexnetError } from '../errors.js';

export interface KeyPair {
  /** Z85, 40 characters. */
  publicKey: string;
  secretKey: string;
}

export class KeyError extends AlexnetError {
  constructor(message: string) {
    super('E_KEYS', message);
  }
}

/** What makes the keys, for messages that need them. */
export const MAKE_KEYS = '`coordinator keys --out DIR --towers N` makes them; give the same DIR to the coordinator and the towers with --keys DIR';

export const publicKeyFile = (dir: string, name: string): string => join(dir, `${name}.key`);
export const secretKeyFile = (dir: string, name: string): string => join(dir, `${name}.key_secret`);

/** The text of a key file; `secret` adds the secret key (that file must stay private). */
export function formatKeyFile(name: string, pair: KeyPair, secret: boolean): string {
  const head = secret
    ? `#   ZeroMQ CURVE **Secret** Certificate for ${name}\n#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n`
    : `#   ZeroMQ CURVE Public Certificate for ${name}\n#   Exchange securely, or use a secure mechanism to verify the contents\n#   of this file after exchange. Store public certificates in your home\n#   directory, in the .curve subdirectory.\n`;
  return `${head}\nmetadata\n    name = "${name}"\ncurve\n    public-key = "${pair.publicKey}"\n${secret ? `    secret-key = "${pair.secretKey}"\n` : ''}`;
}

const Z85_KEY = /^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/;

function field(text: string, key: string, file: string): string {
  const m = new RegExp(`^\\s*${key}\\s*=\\s*"([^"]*)"`, 'm').exec(text);
  if (!m) throw new KeyError(`${file} has no ${key}: not a key file (${MAKE_KEYS.replace(' makes them', ' makes key files')})`);
  if (!Z85_KEY.test(m[1]!)) throw new KeyError(`${file}: ${key} is not a 40-character Z85 key`);
  return m[1]!;
}

function read(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new KeyError(code === 'ENOENT' ? `${file} does not exist: ${MAKE_KEYS}` : `${file}: ${(e as Error).message}`);
  }
}

/** A public key from `<dir>/<name>.key`. */
export function readPublicKey(dir: string, name: string): string {
  const file = publicKeyFile(dir, name);
  return field(read(file), 'public-key', file);
}

/** A key pair from `<dir>/<name>.key_secret`. */
export function readKeyPair(dir: string, name: string): KeyPair {
  const file = secretKeyFile(dir, name);
  const text = read(file);
  return { publicKey: field(text, 'public-key', file), secretKey: field(text, 'secret-key', file) };
}

const Z85 = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';

/** Z85 (ZeroMQ RFC 32) of bytes whose length is a multiple of 4: how ZAP's raw 32-byte keys compare with the files'. */
export function z85Encode(bytes: Uint8Array): string {
  if (bytes.length % 4 !== 0) throw new KeyError(`Z85 encodes multiples of 4 bytes, got ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let out = '';
  for (let i = 0; i < bytes.length; i += 4) {
    let v = view.getUint32(i);
    let chunk = '';
    for (let j = 0; j < 5; j++) {
      chunk = Z85[v % 85]! + chunk;
      v = Math.floor(v / 85);
    }
    out += chunk;
  }
  return out;
}
