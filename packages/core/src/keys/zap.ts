/**
 * A ZAP handler (ZeroMQ's authentication protocol, RFC 27) for CURVE servers: each request names the
 * peer's address and public key; `admit` says which tower the key is (or undefined to refuse it).
 * Shared by the coordinator's socket and each tower's peer socket.
 */
import { z85Encode } from './index.js';

/** The Reply socket bound at inproc://zeromq.zap.01, as zeromq.js gives it. */
export interface ZapSocket extends AsyncIterable<Buffer[]> {
  send(frames: (Buffer | string)[]): Promise<void>;
  readonly closed: boolean;
}

export interface ZapPeer {
  address: string;
  /** Z85 of the peer's public key, or `none` when it offered no CURVE key. */
  key: string;
}

export const ZAP_ENDPOINT = 'inproc://zeromq.zap.01';

/** Answer ZAP requests until the socket closes; `stopped` is told if it fails otherwise. */
export async function serveZap(
  zap: ZapSocket,
  admit: (key: string) => string | undefined,
  on: { admitted: (p: ZapPeer, name: string) => void; refused: (p: ZapPeer) => void; stopped: (e: unknown) => void },
): Promise<void> {
  try {
    for await (const [version, id, , address, , mechanism, key] of zap) {
      const curve = mechanism?.toString() === 'CURVE' && key?.byteLength === 32;
      const peer = { address: address?.toString() ?? '?', key: curve ? z85Encode(key) : 'none' };
      const name = curve ? admit(peer.key) : undefined;
      if (name) on.admitted(peer, name);
      else on.refused(peer);
      await zap.send([version!, id!, name ? '200' : '400', name ? 'OK' : 'key not allowed', name ?? '', '']);
    }
  } catch (e) {
    if (!zap.closed) on.stopped(e);
  }
}
