/** The peer I/O thread (see peer_thread.ts): a StreamTransport whose messages and logs go to the main thread. */
import { parentPort, workerData } from 'node:worker_threads';
import type { Logger } from 'pino';
import { BufferPool } from './buffer_pool.js';
import type { FromThread, ToThread, WireFrame } from './peer_thread.js';
import { StreamTransport } from './streams.js';

const port = parentPort!;
const post = (m: FromThread): void => port.postMessage(m);
const { index } = workerData as { index: number };
const pool = new BufferPool();

/** Errors do not cross threads whole: their messages do. */
const plain = (obj: object): object => Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, v instanceof Error ? { message: v.message } : v]));
const log = Object.fromEntries(
  (['debug', 'warn', 'error'] as const).map((level) => [level, (obj: object, msg: string) => post({ op: 'log', level, obj: plain(obj), msg })]),
) as unknown as Logger;

const transport = new StreamTransport(
  index,
  log,
  pool,
  (frames, from) => {
    const wire: WireFrame[] = frames.map((f) => {
      const id = pool.idOf(f);
      return id === undefined ? new Uint8Array(f) : { sab: f.buffer as SharedArrayBuffer, id };
    });
    post({ op: 'message', from, frames: wire });
  },
  (from, reason) => post({ op: 'rejected', from, reason }),
);

port.on('message', (m: ToThread) => {
  switch (m.op) {
    case 'bind':
      transport.bind(m.endpoint).then(
        (endpoint) => post({ op: 'bound', endpoint }),
        (e: Error) => post({ op: 'failed', message: e.message }),
      );
      return;
    case 'connect':
      transport.connect(m.session, m.endpoints);
      return;
    case 'send':
      transport.send(
        m.to,
        m.frames.map((f) => (f instanceof SharedArrayBuffer ? Buffer.from(f) : Buffer.from(f.buffer, f.byteOffset, f.byteLength))),
        () => post({ op: 'sent', id: m.id }),
      );
      return;
    case 'release':
      pool.releaseId(m.id);
      return;
    case 'close':
      void transport.close().then(() => post({ op: 'closed' }));
  }
});
