/** The heartbeat thread (see heartbeat.ts): its own socket, one small frame every `intervalMs`, until told to stop. */
import { parentPort, workerData } from 'node:worker_threads';
import { Dealer } from 'zeromq';

const { endpoint, index, intervalMs, curve } = workerData as { endpoint: string; index: number; intervalMs: number; curve: object };
const socket = new Dealer({ routingId: `tower-${index}-hb`, linger: 0, sendHighWaterMark: 4, ...curve });
socket.connect(endpoint);
let seq = 0;
let pending = false;
// One beat in flight at a time: while the coordinator is busy or gone, beats are dropped, never queued.
// (zeromq.js throws synchronously when a send is already pending, and a throw here aborts the process.)
const timer = setInterval(() => {
  if (pending) return;
  pending = true;
  socket
    .send(String(seq++))
    .catch(() => undefined)
    .finally(() => (pending = false));
}, intervalMs);
// Close the socket here before the process exits: a ZeroMQ socket left open in a thread at exit aborts it.
parentPort!.once('message', () => {
  clearInterval(timer);
  socket.close();
  parentPort!.close();
});
