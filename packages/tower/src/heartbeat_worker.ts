/** The heartbeat thread (see heartbeat.ts): its own socket, one small frame every `intervalMs`. */
import { workerData } from 'node:worker_threads';
import { Dealer } from 'zeromq';

const { endpoint, index, intervalMs, curve } = workerData as { endpoint: string; index: number; intervalMs: number; curve: object };
const socket = new Dealer({ routingId: `tower-${index}-hb`, linger: 0, sendHighWaterMark: 4, ...curve });
socket.connect(endpoint);
let seq = 0;
setInterval(() => {
  socket.send(String(seq++)).catch(() => undefined); // a full queue (coordinator busy or gone) drops a beat
}, intervalMs);
