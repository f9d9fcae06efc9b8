/** A loader thread: renders the batches the coordinator asks for, from shared memory or the store's file. */
import { parentPort, workerData } from 'node:worker_threads';
import { renderBatch } from './batch.js';
import type { LoaderInit, LoaderReply, LoaderRequest } from './loader.js';
import { RecordReader } from './records.js';

const init = workerData as LoaderInit;
const readers = { train: new RecordReader(init.train), test: new RecordReader(init.test) };
parentPort!.on('message', (req: LoaderRequest) => {
  let reply: LoaderReply;
  try {
    const images = renderBatch(readers[req.split], init.spec, req.indices, req.mode, req.keyBase);
    reply = { id: req.id, images };
    parentPort!.postMessage(reply, [images.buffer as ArrayBuffer]);
  } catch (e) {
    reply = { id: req.id, error: (e as Error).message };
    parentPort!.postMessage(reply);
  }
});
