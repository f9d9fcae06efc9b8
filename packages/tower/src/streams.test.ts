import { closeSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { BufferPool } from './buffer_pool.js';
import { SHARED_DIR, sharedMemory } from './shared_file.js';
import { parseEndpoint, StreamTransport } from './streams.js';

const log = pino({ level: 'silent' });

/** Two towers' stream transports on Unix sockets, in one process; `shared`: whether each moves bodies through shared files. */
async function pair(shared: [boolean, boolean] = [false, false]): Promise<{ a: StreamTransport; b: StreamTransport; got: Buffer[][]; rejected: string[]; poolB: BufferPool }> {
  const dir = mkdtempSync(join(tmpdir(), 'alexnet-streams-'));
  const got: Buffer[][] = [];
  const rejected: string[] = [];
  const poolB = new BufferPool();
  const a = new StreamTransport(
    0,
    log,
    new BufferPool(),
    () => {},
    (_, r) => rejected.push(r),
    shared[0],
  );
  const b = new StreamTransport(
    1,
    log,
    poolB,
    (frames) => got.push(frames),
    (_, r) => rejected.push(r),
    shared[1],
  );
  const ends = [await a.bind(`ipc://${join(dir, 'a.sock')}`), await b.bind(`ipc://${join(dir, 'b.sock')}`)];
  a.connect(3, ends);
  b.connect(3, ends);
  open.push(a, b);
  return { a, b, got, rejected, poolB };
}

const open: StreamTransport[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

async function until(cond: () => boolean): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > 10_000) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const ourFiles = (): string[] => readdirSync(SHARED_DIR).filter((f) => f.startsWith(`alexnet-peer-${process.pid}-`));

/** Messages of every size, sent and checked byte for byte; returns the sender's count of bodies by path. */
async function roundTrip(shared: [boolean, boolean]): Promise<{ inFile: number; onStream: number }> {
  const { a, got, rejected } = await pair(shared);
  const sizes = [[5], [7, 0], [3, 65_535], [9, 65_536], [11, 5_537_792], [2, 1, 2, 3], [4, 1 << 20, 1 << 20]];
  const sent = sizes.map((lens, m) => lens.map((n, f) => Buffer.from(Uint8Array.from({ length: n }, (_, i) => (i * 31 + m * 7 + f) & 255))));
  // the first message goes when the receiver has said hello; with shared files, wait for its answer to the offer
  a.send(1, [Buffer.from('first')], () => {});
  await until(() => got.length === 1 && (!shared[0] || !shared[1] || a.sharesFileWith(1)));
  let done = 0;
  for (const frames of sent) a.send(1, frames, () => done++);
  await until(() => got.length === sent.length + 1);
  expect(got.slice(1).map((m) => m.map((f) => f.length))).toEqual(sizes);
  got.slice(1).forEach((m, i) => m.forEach((f, j) => expect(f.equals(sent[i]![j]!), `message ${i} frame ${j}`).toBe(true)));
  await until(() => done === sent.length);
  expect(rejected).toEqual([]);
  return a.sentBodies;
}

describe('stream transport', () => {
  it('delivers messages whole and in order: empty, small, and large frames read in place', async () => {
    const { a, got } = await pair();
    const sizes = [[5], [7, 0], [3, 65_535], [9, 65_536], [11, 5_537_792], [2, 1, 2, 3]];
    const sent = sizes.map((lens, m) => lens.map((n, f) => Buffer.from(Uint8Array.from({ length: n }, (_, i) => (i * 31 + m * 7 + f) & 255))));
    let done = 0;
    for (const frames of sent) a.send(1, frames, () => done++);
    await until(() => got.length === sent.length);
    expect(got.map((m) => m.map((f) => f.length))).toEqual(sizes);
    got.forEach((m, i) => m.forEach((f, j) => expect(f.equals(sent[i]![j]!), `message ${i} frame ${j}`).toBe(true)));
    await until(() => done === sent.length);
  });

  describe.skipIf(!sharedMemory())(`bodies through a shared file in ${SHARED_DIR}`, () => {
    it('moves bodies of 64 KiB and more through the file, the rest on the stream, byte for byte', async () => {
      const bodies = await roundTrip([true, true]);
      // 65,536, 5,537,792 and the two 1 MiB bodies; the small ones (0 to 65,535 bytes) stay on the stream
      expect(bodies).toEqual({ inFile: 4, onStream: 5 });
      // the receiver removed the file's name once it had opened it
      expect(ourFiles()).toEqual([]);
    });

    it('keeps bodies on the stream for a receiver that does not read shared files (another host)', async () => {
      expect(await roundTrip([true, false])).toEqual({ inFile: 0, onStream: 9 });
      expect(ourFiles()).toEqual([]);
    });

    it('goes on with the stream when writing the file fails (a full /dev/shm, say)', async () => {
      const { a, got } = await pair([true, true]);
      a.send(1, [Buffer.from('first')], () => {});
      await until(() => got.length === 1 && a.sharesFileWith(1));
      const body = Buffer.alloc(1 << 20, 5);
      a.send(1, [Buffer.from('h'), body], () => {});
      await until(() => got.length === 2);
      // a descriptor that is not open: the sender's next write fails
      const file = (a as unknown as { receivers: Map<string, { file: { fd: number } }> }).receivers.values().next().value!.file;
      const fd = file.fd;
      file.fd = 1 << 20;
      closeSync(fd);
      a.send(1, [Buffer.from('h'), body], () => {});
      a.send(1, [Buffer.from('h'), body], () => {});
      await until(() => got.length === 4);
      expect(got.slice(1).every((m) => m[1]!.equals(body))).toBe(true);
      expect(a.sentBodies).toEqual({ inFile: 1, onStream: 2 });
    });

    it('reuses places in the file once the receiver has read them', async () => {
      const { a, got, poolB } = await pair([true, true]);
      a.send(1, [Buffer.from('first')], () => {});
      await until(() => got.length === 1 && a.sharesFileWith(1));
      const body = Buffer.alloc(1 << 20, 3);
      const file = (a as unknown as { receivers: Map<string, { file: { end: number; inFlight: number } }> }).receivers.values().next().value!.file;
      for (let n = 0; n < 20; n++) {
        a.send(1, [Buffer.from('h'), body], () => {});
        // delivered, and the receiver's answer back at the sender
        await until(() => got.length === n + 2 && file.inFlight === 0);
        poolB.release(got[n + 1]![1]!);
      }
      expect(a.sentBodies.inFile).toBe(20);
      // one place of 1 MiB, taken and given back 20 times
      expect(file.end).toBe(1 << 20);
    });
  });

  it('receives into the same buffers once they are given back', async () => {
    const { a, got, poolB } = await pair();
    const body = Buffer.alloc(1 << 20, 7);
    a.send(1, [Buffer.from('h'), body], () => {});
    await until(() => got.length === 1);
    const first = got[0]![1]!.buffer;
    poolB.release(got[0]![1]!);
    a.send(1, [Buffer.from('h'), body], () => {});
    await until(() => got.length === 2);
    expect(got[1]![1]!.buffer).toBe(first);
    expect(got[1]![1]!.equals(body)).toBe(true);
  });

  it('queues sends until the receiver has said hello', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'alexnet-streams-'));
    const got: Buffer[][] = [];
    const a = new StreamTransport(
      0,
      log,
      new BufferPool(),
      () => {},
      () => {},
    );
    const b = new StreamTransport(
      1,
      log,
      new BufferPool(),
      (frames) => got.push(frames),
      () => {},
    );
    open.push(a, b);
    const ends = [await a.bind(`ipc://${join(dir, 'a.sock')}`), await b.bind(`ipc://${join(dir, 'b.sock')}`)];
    a.connect(1, ends);
    a.send(1, [Buffer.from('early')], () => {});
    await new Promise((r) => setTimeout(r, 50));
    b.connect(1, ends);
    await until(() => got.length === 1);
    expect(got[0]![0]!.toString()).toBe('early');
  });

  it('reads endpoints as net addresses and refuses others', () => {
    expect(parseEndpoint('ipc:///tmp/x.sock')).toEqual({ path: '/tmp/x.sock' });
    expect(parseEndpoint('tcp://10.0.0.2:5556')).toEqual({ host: '10.0.0.2', port: 5556 });
    expect(parseEndpoint('tcp://[::1]:7')).toEqual({ host: '::1', port: 7 });
    expect(parseEndpoint('tcp://*:0')).toEqual({ host: '0.0.0.0', port: 0 });
    expect(() => parseEndpoint('inproc://x')).toThrow(/not an ipc:\/\/ or tcp:\/\/host:port endpoint/);
    expect(() => parseEndpoint('tcp://host:99999')).toThrow();
  });
});
