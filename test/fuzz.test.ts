/**
 * Hostile and broken input on the wire (issue 6): random and mutated frames at a live tower and at a live
 * coordinator. Nothing crashes; every frame is either rejected and logged with its reason, or (well formed
 * but wrong for the moment, e.g. a forward before init) answered with an `error`; afterwards the tower
 * still initialises and the coordinator's run still finishes.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encode, loadConfig, mulberry32 } from '@alexnet/core';
import { sharedMemory } from '@alexnet/tower/shared_file';
import { describe, expect, it } from 'vitest';
import { Dealer, Router } from 'zeromq';
import { exchangeHeader, fuzzMessage, pack, streamMessage } from './fuzz_messages.js';
import { childrenOf, cli, fixture, root } from './helpers.js';

const FRAMES = 1200;

/** Tower 0 at `endpoint` (with `extra` arguments), its stderr and exit, and the next message it sends `router`. */
function towerAt(router: Router, endpoint: string, extra: string[]) {
  const main = fileURLToPath(import.meta.resolve('@alexnet/tower/main'));
  const proc = spawn(process.execPath, [main, '--connect', endpoint, '--index', '0', ...extra, '--backend', 'wasm', '--log-level', 'warn', '--heartbeat-ms', '0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const inbox = router[Symbol.asyncIterator]();
  const t = {
    proc,
    stderr: '',
    exited: undefined as number | null | undefined,
    next: async (): Promise<{ kind: string }> => {
      const { value } = await inbox.next();
      return createRequire(import.meta.url)('msgpackr').unpack((value as Buffer[])[1]) as { kind: string };
    },
  };
  proc.stderr.on('data', (d) => (t.stderr += d));
  proc.on('exit', (code) => (t.exited = code));
  return t;
}

/**
 * The test plays tower 1 to a live tower 0: a coordinator's Router at `endpoint`, and tower 1's peer
 * server at `fake`, where tower 0 connects to receive tower 1's transfers; `links` are those
 * connections, with what tower 0 wrote on each.
 */
async function playTowerOne() {
  const dir = mkdtempSync(join(tmpdir(), 'alexnet-fuzz-peer-'));
  const endpoint = `ipc://${join(dir, 'towers.sock')}`;
  const router = new Router({ linger: 0, sendHighWaterMark: 0 });
  await router.bind(endpoint);
  const links: { socket: net.Socket; got: Buffer }[] = [];
  const server = net.createServer((socket) => {
    const link = { socket, got: Buffer.alloc(0) };
    socket.on('data', (d) => (link.got = Buffer.concat([link.got, d])));
    socket.on('error', () => {});
    links.push(link);
  });
  const fake = join(dir, 'peer-1.sock');
  await new Promise<void>((r) => server.listen(fake, r));
  return { endpoint, peer: join(dir, 'peer-0.sock'), fake, router, links, server };
}

async function until(cond: () => boolean, ms = 30_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('fuzzing the wire', () => {
  it(`a live tower survives ${FRAMES} random and mutated messages, logs every rejection with its reason, then initialises`, async () => {
    const endpoint = `ipc://${join(mkdtempSync(join(tmpdir(), 'alexnet-fuzz-')), 'towers.sock')}`;
    // no high-water mark: a Router drops what does not fit (1,000 by default), and on a busy machine the tower lags
    const router = new Router({ linger: 0, sendHighWaterMark: 0 });
    await router.bind(endpoint);
    const main = fileURLToPath(import.meta.resolve('@alexnet/tower/main'));
    const tower = spawn(process.execPath, [main, '--connect', endpoint, '--index', '0', '--backend', 'wasm', '--log-level', 'warn', '--heartbeat-ms', '0'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    tower.stderr.on('data', (d) => (stderr += d));
    let exited: number | null | undefined;
    tower.on('exit', (code) => (exited = code));
    const inbox = router[Symbol.asyncIterator]();
    const next = async (): Promise<{ kind: string; message?: string }> => {
      const { value } = await inbox.next();
      const [, head] = value as Buffer[];
      return createRequire(import.meta.url)('msgpackr').unpack(head) as { kind: string; message?: string };
    };
    try {
      expect((await next()).kind).toBe('hello');
      const rand = mulberry32(2026);
      for (let n = 0; n < FRAMES; n++) await router.send([Buffer.from('tower-0'), ...fuzzMessage(rand, n)]);
      // then a real init: the tower must still work
      const config = loadConfig(fixture('tiny.yaml'));
      await router.send([Buffer.from('tower-0'), ...encode('init', { tower: 0, towers: 1, config, session: 1, peers: ['ipc://unused'] }, [])]);
      let errors = 0;
      for (;;) {
        const m = await next();
        if (m.kind === 'ready') break;
        expect(m.kind).toBe('error');
        expect(m.message).toMatch(/^tower 0: \w+: .+/);
        errors++;
      }
      expect(exited).toBeUndefined(); // alive all along
      // a clean shutdown: the tower exits 0 and its log is flushed
      // ('close': the process exited and its stderr is read to the end)
      const gone = new Promise<number | null>((done) => tower.on('close', done));
      await router.send([Buffer.from('tower-0'), ...encode('shutdown', {}, [])]);
      expect(await gone).toBe(0);
      const rejections = stderr.split('\n').filter((l) => l.includes('"msg":"rejected message"'));
      for (const line of rejections) expect(JSON.parse(line).reason, line).toMatch(/\w/);
      // every message accounted for: rejected with a reason, or answered with an error
      expect(rejections.length + errors).toBe(FRAMES);
      expect(errors).toBeGreaterThan(0);
      expect(rejections.length).toBeGreaterThan(FRAMES / 2);
    } finally {
      tower.kill('SIGKILL');
      router.close();
    }
  });

  it.each(['stream', 'shm'])(`a live tower's %s peer links survive ${FRAMES} random and mutated messages, logging each rejection, then train`, async (kind) => {
    const { endpoint, peer, fake, router, links, server } = await playTowerOne();
    const t = towerAt(router, endpoint, ['--peer', `ipc://${peer}`, '--peer-transport', kind]);
    const next = t.next;
    const rejected = (): number => t.stderr.split('\n').filter((l) => l.includes('rejected peer message')).length;
    const strangers: net.Socket[] = [];
    try {
      expect((await next()).kind).toBe('hello');
      const config = loadConfig(fixture('tiny.yaml'));
      await router.send([Buffer.from('tower-0'), ...encode('init', { tower: 0, towers: 2, config, session: 7, peers: [`ipc://${peer}`, `ipc://${fake}`] }, [])]);
      expect((await next()).kind).toBe('ready');
      await until(() => links.length === 1 && links[0]!.got.length >= 16);
      const hello = links[0]!.got;
      // magic, session, tower, and whether it reads bodies from shared files
      expect([hello.subarray(0, 4).toString(), hello.readUInt32LE(4), hello.readUInt32LE(8), hello.readUInt32LE(12)]).toEqual(['AXP2', 7, 0, sharedMemory() ? 1 : 0]);
      const rand = mulberry32(11);
      const exchange = exchangeHeader();
      let streamBreaks = 0;
      for (let n = 0; n < FRAMES; n++) {
        const link = links[links.length - 1]!;
        if (n % 30 === 0) {
          // a frame count or header length out of bounds: the stream cannot be read on, so the tower drops
          // the link and connects again
          const bad = Buffer.alloc(12);
          const k = (n / 30) % 6; // frame count 0, 9 or 2³²−1; header length 0 or 2 MiB; a body of 4 GiB
          if (k < 3) bad.writeUInt32LE([0, 9, 0xffffffff][k]!, 0);
          else {
            bad.writeUInt32LE(2, 0);
            bad.writeUInt32LE([0, 2 << 20, 100][k - 3]!, 4);
            bad.writeUInt32LE(k === 5 ? 0xffffffff : 0, 8);
          }
          link.socket.write(bad);
          streamBreaks++;
          await until(() => links.length === streamBreaks + 1 && links[streamBreaks]!.got.length >= 16);
          continue;
        }
        // well framed: the coordinator's fuzz, exchange headers with one thing wrong, an exchange from a tower that is not there
        const frames =
          n % 3 === 0
            ? fuzzMessage(rand, n)
            : n % 3 === 1
              ? [pack({ ...exchange, dir: ['sideways', 7, null][n % 3] }), Buffer.alloc(24)]
              : encode('exchange', { ...exchange, from: [0, 2, 3, 4, 5][n % 5] } as never, [{ data: new Float32Array(6), shape: [2, 3] }]);
        link.socket.write(streamMessage(frames));
      }
      // strangers at the tower's own peer socket (where receivers say hello): a bad hello, or bytes after one
      for (let n = 0; n < 10; n++) {
        const s = net.connect(peer);
        s.on('error', () => {});
        strangers.push(s);
        s.write(n % 2 ? Buffer.concat([Buffer.from('AXP2'), Buffer.alloc(12, 0), Buffer.alloc(4, 2)]) : Buffer.from(Array.from({ length: 16 }, () => Math.floor(rand() * 256))));
      }
      await until(() => rejected() === FRAMES + 10);
      expect(t.exited).toBeUndefined();
      for (const line of t.stderr
        .split('\n')
        .filter((l) => l.includes('rejected peer message'))
        .slice(0, 50))
        expect(JSON.parse(line).reason ?? JSON.parse(line).from, line).toBeDefined();
      // the tower still trains: a new session of one tower, a forward of the tiny net
      await router.send([Buffer.from('tower-0'), ...encode('init', { tower: 0, towers: 1, config, session: 8, peers: [`ipc://${peer}`] }, [])]);
      expect((await next()).kind).toBe('ready');
      const body = { pass: 0, step: 0, part: 0, size: 2, training: true, sampleOffset: 0 };
      await router.send([Buffer.from('tower-0'), ...encode('forward', body, [{ data: new Float32Array(2 * 12 * 12 * 3).fill(0.5), shape: [2, 12, 12, 3] }])]);
      expect((await next()).kind).toBe('activation');
    } finally {
      for (const s of [...strangers, ...links.map((l) => l.socket)]) s.destroy();
      server.close();
      t.proc.kill('SIGKILL');
      router.close();
    }
  });

  it.skipIf(!sharedMemory())("a live tower's shm links refuse files not made for it, read bodies from one that is, and drop a link whose offsets lie", async () => {
    // the tower says hello on each link, then answers about shared files in 4-byte words
    const { endpoint, peer, fake, router, links, server } = await playTowerOne();
    const t = towerAt(router, endpoint, ['--peer', `ipc://${peer}`, '--peer-transport', 'shm']);
    const rejections = (): string[] =>
      t.stderr
        .split('\n')
        .filter((l) => l.includes('rejected peer message'))
        .map((l) => JSON.parse(l).reason as string);
    const announce = (socket: net.Socket, path: string): void => {
      const head = Buffer.alloc(8);
      head.writeUInt32LE(Buffer.byteLength(path), 4);
      socket.write(Buffer.concat([head, Buffer.from(path)]));
    };
    /** The tower's answers on a link after its 16-byte hello. */
    const answers = (link: { got: Buffer }): number[] => Array.from({ length: (link.got.length - 16) / 4 }, (_, i) => link.got.readUInt32LE(16 + 4 * i));
    const body = new Float32Array([1, 2, 3, 4, 5, 6]);
    /** An exchange whose body is in the shared file at `at`. */
    const inFile = (at: number): Buffer => {
      const header = encode('exchange', { session: 7, pass: 0, part: 0, layer: 1, dir: 'forward', from: 1, lo: 0, hi: 3 } as never, [{ data: body, shape: [2, 3] }])[0]!;
      const m = Buffer.alloc(12 + header.length + 4);
      m.writeUInt32LE(2, 0);
      m.writeUInt32LE(header.length, 4);
      m.writeUInt32LE((body.byteLength | 0x80000000) >>> 0, 8);
      header.copy(m, 12);
      m.writeUInt32LE(at, 12 + header.length);
      return m;
    };
    try {
      expect((await t.next()).kind).toBe('hello');
      const config = loadConfig(fixture('tiny.yaml'));
      await router.send([Buffer.from('tower-0'), ...encode('init', { tower: 0, towers: 2, config, session: 7, peers: [`ipc://${peer}`, `ipc://${fake}`] }, [])]);
      expect((await t.next()).kind).toBe('ready');
      await until(() => links.length === 1 && links[0]!.got.length >= 16);
      const link = links[0]!;
      // not a file of ours: outside /dev/shm, or named as ours but not there
      announce(link.socket, '/etc/passwd');
      announce(link.socket, '/dev/shm/alexnet-peer-1-000000000000');
      await until(() => answers(link).length === 2);
      expect(answers(link)).toEqual([0xfffffffe, 0xfffffffe]);
      // a file made as a sender makes it: opened, its name removed, a body at offset 4096 read and answered
      const file = `/dev/shm/alexnet-peer-${process.pid}-${'ab'.repeat(6)}`;
      const bytes = Buffer.alloc(4096 + body.byteLength);
      Buffer.from(body.buffer).copy(bytes, 4096);
      writeFileSync(file, bytes);
      announce(link.socket, file);
      await until(() => answers(link).length === 3);
      expect(answers(link)[2]).toBe(0xffffffff);
      expect(existsSync(file)).toBe(false);
      link.socket.write(inFile(4096));
      await until(() => answers(link).length === 4);
      expect(answers(link)[3]).toBe(4096);
      expect(rejections()).toEqual([]);
      // an offset past the file's end: the link is dropped and the tower connects again
      link.socket.write(inFile(1 << 20));
      await until(() => links.length === 2 && links[1]!.got.length >= 16);
      // a body in a file never announced on this link: dropped again
      links[1]!.socket.write(inFile(4096));
      await until(() => links.length === 3);
      expect(rejections()).toEqual([expect.stringMatching(/past the end of its shared file/), expect.stringMatching(/a body in a shared file it never announced/)]);
      // the tower still trains: a new session of one tower, a forward of the tiny net
      await router.send([Buffer.from('tower-0'), ...encode('init', { tower: 0, towers: 1, config, session: 8, peers: [`ipc://${peer}`] }, [])]);
      expect((await t.next()).kind).toBe('ready');
      const fwd = { pass: 0, step: 0, part: 0, size: 2, training: true, sampleOffset: 0 };
      await router.send([Buffer.from('tower-0'), ...encode('forward', fwd, [{ data: new Float32Array(2 * 12 * 12 * 3).fill(0.5), shape: [2, 12, 12, 3] }])]);
      expect((await t.next()).kind).toBe('activation');
      expect(t.exited).toBeUndefined();
    } finally {
      for (const l of links) l.socket.destroy();
      server.close();
      t.proc.kill('SIGKILL');
      router.close();
    }
  });

  it(`a live tower's ZeroMQ peer socket survives ${FRAMES} random and mutated messages, logging each rejection, then trains`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'alexnet-fuzz-peer-'));
    const endpoint = `ipc://${join(dir, 'towers.sock')}`;
    const peer = `ipc://${join(dir, 'peer-0.sock')}`;
    const router = new Router({ linger: 0, sendHighWaterMark: 0 });
    await router.bind(endpoint);
    const t = towerAt(router, endpoint, ['--peer', peer, '--peer-transport', 'zmq']);
    const next = t.next;
    const stranger = new Dealer({ linger: 0, routingId: 'peer-1', sendHighWaterMark: 0 });
    try {
      expect((await next()).kind).toBe('hello');
      const config = loadConfig(fixture('tiny.yaml'));
      await router.send([Buffer.from('tower-0'), ...encode('init', { tower: 0, towers: 1, config, session: 7, peers: [peer] }, [])]);
      expect((await next()).kind).toBe('ready');
      stranger.connect(peer);
      const rand = mulberry32(11);
      const exchange = exchangeHeader();
      for (let n = 0; n < FRAMES; n++) {
        // the coordinator's fuzz, exchange headers with one thing wrong, and an exchange from a tower that is not there
        const frames =
          n % 3 === 0
            ? fuzzMessage(rand, n)
            : n % 3 === 1
              ? [pack({ ...exchange, dir: ['sideways', 7, null][n % 3] }), Buffer.alloc(24)]
              : encode('exchange', { ...exchange, from: 1 + (n % 5) } as never, [{ data: new Float32Array(6), shape: [2, 3] }]);
        await stranger.send(frames);
      }
      // the tower still trains: a forward and backward of the tiny net on one tower
      const body = { pass: 0, step: 0, part: 0, size: 2, training: true, sampleOffset: 0 };
      await router.send([Buffer.from('tower-0'), ...encode('forward', body, [{ data: new Float32Array(2 * 12 * 12 * 3).fill(0.5), shape: [2, 12, 12, 3] }])]);
      expect((await next()).kind).toBe('activation');
      await until(() => t.stderr.split('\n').filter((l) => l.includes('rejected peer message')).length === FRAMES);
      expect(t.exited).toBeUndefined();
      for (const line of t.stderr
        .split('\n')
        .filter((l) => l.includes('rejected peer message'))
        .slice(0, 50))
        expect(JSON.parse(line).reason ?? JSON.parse(line).from, line).toBeDefined();
    } finally {
      stranger.close();
      t.proc.kill('SIGKILL');
      router.close();
    }
  });

  it(`a live coordinator rejects ${FRAMES} messages from unknown peers, logging each, and its run finishes`, async () => {
    const out = mkdtempSync(join(tmpdir(), 'alexnet-fuzz-run-'));
    const child = spawn(process.execPath, [cli, '--gpus', '0,1', '--config', fixture('tiny.yaml'), '--steps', '300', '--backend', 'wasm', '--json', '--out', out], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    while (!/"step":\d+/.test(stderr)) await new Promise((r) => setTimeout(r, 10));
    const endpoint = / --connect (\S+)/.exec(childrenOf(child.pid!).find((t) => / --index 0 /.test(t.cmd))!.cmd)![1]!;
    const rand = mulberry32(7);
    // strangers, and names a tower might have but none of this run's does
    const names = ['intruder', 'tower-9', 'tower-', 'tower-0-', 'TOWER-1', 'tower-2-hb'];
    const peers = names.map((routingId) => new Dealer({ linger: 0, routingId }));
    try {
      for (const p of peers) p.connect(endpoint);
      for (let n = 0; n < FRAMES; n++) await peers[n % peers.length]!.send(fuzzMessage(rand, n));
      expect(await exited, stderr).toBe(0);
    } finally {
      for (const p of peers) p.close();
    }
    const rejected = stderr.split('\n').filter((l) => l.includes('"msg":"rejected message from unknown peer"'));
    expect(rejected.length).toBe(FRAMES);
    for (const line of rejected.slice(0, 20)) expect(JSON.parse(line).peer).toBeDefined();
  });
});
