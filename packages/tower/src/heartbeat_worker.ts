/** The heartbeat thread (see heartbeat.ts): its own socket, one small frame every `intervalMs`, until told to stop. */
import { parentPort, workerData } from 'node:worker_threads';
import { Dealer } from 'zeromq';

const { endpoint, index, intervalMs, curve } = workerData as { endpoint: string; index: number; intervalMs: number; curve: object };
const socket = new Dealer({ routingId: `tower-${index}-hb`, linger: 0, sendHighWaterMark: 4, ...curve });
socket.connect(endpoint);
let seq = 0;
const timer = setInterval(() => {
  socket.send(String(seq++)).catch(() => undefined); // a full queue (coordinator busy or gone) drops a beat
}, intervalMs);
// Close the socket here before the process exits: a ZeroMQ socket left open in a thread at exit aborts it.
parentPort!.once('message', () => {
  clearInterval(timer);
  socket.close();
  parentPort!.close();
});
