/**
 * Towers on other hosts: a coordinator with --listen waits for towers started by hand, admits only the
 * tower keys it was given (CURVE), and trains the same run a spawned one does. As root, each tower runs in
 * its own network namespace and reaches the coordinator, and the other tower, over a veth pair, as from
 * another machine; a tower killed there is replaced and the run restarts from its checkpoint. Towers
 * refuse a stranger's key at their peer sockets as the coordinator does at its own.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readCheckpoint } from '@alexnet/coordinator';
import { readKeyPair, readPublicKey } from '@alexnet/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dealer } from 'zeromq';
import { cli, fixture, maxDiff, root, runCli } from './helpers.js';

const towerMain = resolve(root, 'packages/tower/dist/main.js');
const STEPS = 60;
const common = ['--config', fixture('tiny.yaml'), '--steps', String(STEPS), '--backend', 'wasm', '--checkpoint-every', '10'];

interface Proc {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Every process started here: killed after the tests, so a failed test leaves no tower holding a namespace. */
const started: ChildProcess[] = [];
const killAll = (): void => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
};
afterAll(killAll);

function start(cmd: string, args: string[]): Proc {
  const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let err = '';
  child.stdout!.resume();
  child.stderr!.on('data', (d) => (err += d));
  return { child, stderr: () => err, exited: new Promise((done) => child.on('exit', (code) => done(code))) };
}

/** A tower on "another host": in network namespace `ns` when given. */
const tower = (connect: string, index: number, keys: string, ns?: string): Proc => {
  const args = [towerMain, '--connect', connect, '--index', String(index), '--keys', keys, '--backend', 'wasm', '--log-level', 'info'];
  return ns ? start('ip', ['netns', 'exec', ns, process.execPath, ...args]) : start(process.execPath, args);
};

const coordinator = (args: string[]): Proc => start(process.execPath, [cli, ...args]);

/** Call `act` once, as soon as the coordinator logs training step `n` (not on a poll: tiny steps are fast). */
function atStep(c: Proc, n: number, act: () => void): Promise<void> {
  return new Promise((done) => {
    const watch = (d: Buffer): void => {
      for (const m of String(d).matchAll(/"kind":"step","run":"split","step":(\d+)/g)) {
        if (Number(m[1]) < n) continue;
        c.child.stderr!.off('data', watch);
        act();
        done();
        return;
      }
    };
    c.child.stderr!.on('data', watch);
  });
}

async function until(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function freePort(): Promise<number> {
  return new Promise((done) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => done(port));
    });
  });
}

/**
 * A stranger (a tower key pair that is not one of ours) knocks at tower 0's peer socket, whose address the
 * coordinator logged when tower 0 joined: tower 0 must refuse it and say so.
 */
async function strangerAtPeer(c: Proc, t0: Proc, keys: string, stranger: string): Promise<void> {
  await until('tower 0 to join', () => /tower 0 joined from .*its peers reach it at tcp:\/\/\S+/.test(c.stderr()));
  const peer = /tower 0 joined from .*its peers reach it at (tcp:\/\/[^\s"]+)/.exec(c.stderr())![1]!;
  const pair = readKeyPair(stranger, 'tower-0');
  const d = new Dealer({ linger: 0, routingId: 'peer-1', curveServerKey: readPublicKey(keys, 'tower-0'), curvePublicKey: pair.publicKey, curveSecretKey: pair.secretKey });
  try {
    d.connect(peer);
    void d.send(Buffer.from('hello?')).catch(() => undefined);
    await until('tower 0 to refuse the stranger at its peer socket', () => /refused a peer connection from .*its key is not one of the tower keys/.test(t0.stderr()));
  } finally {
    d.close();
  }
}

/** `coordinator keys` into a fresh directory; plus a stranger's: another tower-0 key pair with the right coordinator.key. */
async function makeKeys(): Promise<{ keys: string; stranger: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'alexnet-keys-'));
  const keys = join(dir, 'ours');
  const other = join(dir, 'other');
  for (const d of [keys, other]) expect((await runCli(['keys', '--out', d, '--towers', '2'])).code).toBe(0);
  const stranger = join(dir, 'stranger');
  mkdirSync(stranger);
  copyFileSync(join(other, 'tower-0.key_secret'), join(stranger, 'tower-0.key_secret'));
  copyFileSync(join(keys, 'coordinator.key'), join(stranger, 'coordinator.key'));
  return { keys, stranger };
}

let reference: string;
beforeAll(async () => {
  // the same run with spawned towers: what a run over the network must end with
  reference = mkdtempSync(join(tmpdir(), 'alexnet-hosts-ref-'));
  expect((await runCli([...common, '--gpus', '0,1', '--out', reference])).code).toBe(0);
});

describe('a tower started by hand', () => {
  it('waits for a coordinator that is not there yet, beating all the while, without dying', async () => {
    const { keys } = await makeKeys();
    const port = await freePort();
    const t = start(process.execPath, [towerMain, '--connect', `tcp://127.0.0.1:${port}`, '--index', '0', '--keys', keys, '--backend', 'wasm', '--heartbeat-ms', '100']);
    await new Promise((r) => setTimeout(r, 4000)); // 40 beats with nowhere to go
    expect(t.child.exitCode, t.stderr()).toBeNull();
    expect(t.child.signalCode, t.stderr()).toBeNull();
    t.child.kill('SIGTERM');
    expect(await t.exited).toBe(143);
  });

  it('with keys, refuses the unencrypted stream peer links, saying why', async () => {
    const { keys } = await makeKeys();
    const t = start(process.execPath, [towerMain, '--connect', 'tcp://127.0.0.1:1', '--index', '0', '--keys', keys, '--peer-transport', 'stream', '--heartbeat-ms', '0']);
    expect(await t.exited).toBe(1);
    expect(t.stderr()).toMatch(/^tower: --peer-transport stream carries no encryption: with --keys the towers exchange over ZeroMQ CURVE/m);
  });
});

describe('--listen refuses what it cannot do safely', () => {
  it('a non-loopback address without keys, saying how to make keys', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'alexnet-listen-')), 'run');
    const r = await runCli(['--config', fixture('tiny.yaml'), '--listen', '0.0.0.0:5555', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^coordinator: --listen: tcp:\/\/0\.0\.0\.0:5555 is reachable from other hosts.*`coordinator keys --out DIR --towers N` makes them; give the same DIR to the coordinator and the towers with --keys DIR; or pass --insecure/m,
    );
    expect(existsSync(join(out, 'checkpoint.bin'))).toBe(false);
  });

  it('other mistakes, each named', async () => {
    const cases: [string[], RegExp][] = [
      [['--listen', 'tcp://0.0.0.0'], /--listen: "tcp:\/\/0\.0\.0\.0" is not tcp:\/\/ADDRESS:PORT/],
      [['--listen', '127.0.0.1:70000'], /is not tcp:\/\/ADDRESS:PORT/],
      [['--keys', '/nonexistent'], /--keys: keys are for towers on other hosts: give --listen/],
      [['--insecure'], /--insecure: only means something with --listen/],
      [['--listen', '0.0.0.0:5555', '--keys', '/nonexistent'], /\/nonexistent\/coordinator\.key_secret does not exist: `coordinator keys/],
      [['--listen', '127.0.0.1:5555', '--baseline'], /--baseline: with --listen the towers are on other hosts/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(['--config', fixture('tiny.yaml'), ...args]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
  });

  it('keys are never overwritten', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'alexnet-keys-')), 'k');
    expect((await runCli(['keys', '--out', dir])).code).toBe(0);
    const again = await runCli(['keys', '--out', dir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/coordinator\.key exists: keys are never overwritten/);
  });
});

describe('towers started by hand, over loopback with CURVE', () => {
  it('train the run spawned towers train; a tower with another key is refused; a killed coordinator is resumed and the towers rejoin it', async () => {
    const { keys, stranger } = await makeKeys();
    const port = await freePort();
    const endpoint = `tcp://127.0.0.1:${port}`;
    const out = mkdtempSync(join(tmpdir(), 'alexnet-listen-'));
    const c = coordinator([...common, '--listen', endpoint, '--keys', keys, '--out', out]);
    // the coordinator dies mid-run; the towers on their hosts wait, and join the one resumed by hand
    const killed = atStep(c, 25, () => c.child.kill('SIGKILL'));
    await until('the coordinator to listen', () => /waiting for 2 towers/.test(c.stderr()));
    const intruder = tower(endpoint, 0, stranger);
    expect(await intruder.exited).toBe(1);
    expect(intruder.stderr()).toMatch(/^tower: the coordinator at tcp:\/\/127\.0\.0\.1:\d+ refused this tower's key/m);
    const towers = [tower(endpoint, 0, keys), tower(endpoint, 1, keys)];
    await strangerAtPeer(c, towers[0]!, keys, stranger);
    await killed;
    await c.exited;
    expect(c.stderr()).toMatch(/refused a connection from 127\.0\.0\.1: its key \S{40} is not one of the tower keys in/);
    expect(c.stderr()).toMatch(/tower 0 joined from/);
    const resumed = coordinator([...common, '--listen', endpoint, '--keys', keys, '--out', out, '--resume', out]);
    expect(await resumed.exited, resumed.stderr()).toBe(0);
    for (const t of towers) expect(await t.exited, t.stderr()).toBe(0);
    expect(resumed.stderr()).toMatch(/tower 1 joined from/);
    const b = readCheckpoint(out);
    expect(b.step).toBe(STEPS);
    expect(maxDiff(readCheckpoint(reference).tensors, b.tensors)).toBe(0);
  });
});

/** Whether this process may make network namespaces (root with `ip`); else why not. */
function netnsProbe(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'pipe' });
    return undefined;
  } catch (e) {
    return `network namespaces unavailable: ${
      String((e as { stderr?: Buffer }).stderr ?? e)
        .trim()
        .split('\n')[0]
    }`;
  }
}

/**
 * Two network namespaces, each joined to this one by a veth pair: 10.213.<n>.1 here, 10.213.<n>.2 there,
 * routed through this namespace so that the towers reach each other as hosts on two subnets would.
 */
function makeNetns(): { names: string[]; host: (n: number) => string; remove: () => void } {
  const tag = `ax${process.pid % 100000}`;
  const names = [0, 1].map((n) => `${tag}-${n}`);
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  const forwarding = '/proc/sys/net/ipv4/ip_forward';
  const before = readFileSync(forwarding, 'utf8').trim();
  const remove = () => {
    writeFileSync(forwarding, before);
    for (const ns of names) {
      try {
        ip('netns', 'del', ns); // takes its end of the veth pair, and so the pair, with it
      } catch {
        // not created
      }
    }
  };
  try {
    names.forEach((ns, n) => {
      ip('netns', 'add', ns);
      ip('link', 'add', `${tag}h${n}`, 'type', 'veth', 'peer', 'name', `${tag}n${n}`);
      ip('link', 'set', `${tag}n${n}`, 'netns', ns);
      ip('addr', 'add', `10.213.${n + 1}.1/24`, 'dev', `${tag}h${n}`);
      ip('link', 'set', `${tag}h${n}`, 'up');
      ip('netns', 'exec', ns, 'ip', 'addr', 'add', `10.213.${n + 1}.2/24`, 'dev', `${tag}n${n}`);
      ip('netns', 'exec', ns, 'ip', 'link', 'set', `${tag}n${n}`, 'up');
      ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
      ip('netns', 'exec', ns, 'ip', 'route', 'add', 'default', 'via', `10.213.${n + 1}.1`);
    });
    writeFileSync(forwarding, '1');
  } catch (e) {
    remove();
    throw new Error(`could not set up the network namespaces: ${String((e as { stderr?: Buffer }).stderr ?? e).trim()}`);
  }
  return { names, host: (n) => `10.213.${n + 1}.1`, remove };
}

describe('towers in their own network namespaces, over TCP with CURVE', () => {
  const why = netnsProbe();
  let ns: ReturnType<typeof makeNetns> | undefined;
  afterAll(async () => {
    killAll(); // a namespace outlives its deletion while a process still runs in it
    await new Promise((r) => setTimeout(r, 200));
    ns?.remove();
  });
  it.skipIf(why !== undefined)(
    `train across the namespaces; a wrong key is refused; a tower killed there is replaced and the run restarts from its checkpoint${why ? ` (skipped: ${why})` : ''}`,
    async () => {
      ns = makeNetns();
      const { names, host } = ns;
      const { keys, stranger } = await makeKeys();
      const port = await freePort();
      const out = mkdtempSync(join(tmpdir(), 'alexnet-netns-'));
      const c = coordinator([...common, '--listen', `tcp://0.0.0.0:${port}`, '--keys', keys, '--out', out, '--max-restarts', '1', '--heartbeat-timeout', '3']);
      await until('the coordinator to listen', () => /waiting for 2 towers/.test(c.stderr()));
      // each tower reaches the coordinator at the address of its namespace's link
      const connect = (n: number) => `tcp://${host(n)}:${port}`;
      const intruder = tower(connect(1), 0, stranger, names[1]);
      expect(await intruder.exited).toBe(1);
      expect(intruder.stderr()).toMatch(/refused this tower's key/);
      await until('the refusal to be logged', () => /refused a connection from 10\.213\.2\.2/.test(c.stderr()));
      const first = [tower(connect(0), 0, keys, names[0]), tower(connect(1), 1, keys, names[1])];
      // the towers exchange with each other across the namespaces, at the addresses they found toward the coordinator
      await until(
        'both towers to join',
        () =>
          /tower 1 joined from .*its peers reach it at tcp:\/\/10\.213\.2\.2:\d+/.test(c.stderr()) &&
          /tower 0 joined from .*its peers reach it at tcp:\/\/10\.213\.1\.2:\d+/.test(c.stderr()),
      );
      await strangerAtPeer(c, first[0]!, keys, stranger);
      await atStep(c, 25, () => first[1]!.child.kill('SIGKILL')); // `ip netns exec` execs node: this is the tower itself
      await until('the restart', () => /restart 1 of 1, from the checkpoint at step \d+/.test(c.stderr()));
      const replacement = tower(connect(1), 1, keys, names[1]);
      expect(await c.exited, c.stderr()).toBe(0);
      for (const t of [first[0]!, replacement]) expect(await t.exited, t.stderr()).toBe(0);
      // found by its silence (a process killed on another host sends no exit notice), or by a send to it failing
      expect(c.stderr()).toMatch(/split: (tower 1 \(host [^,]+, pid \d+\) sent no heartbeat for \d\.\d s: stopped or hung|send to tower 1 failed: .+); restart 1 of 1/);
      const a = readCheckpoint(reference);
      const b = readCheckpoint(out);
      expect(b.step).toBe(STEPS);
      expect(maxDiff(a.tensors, b.tensors)).toBe(0);
    },
  );
});
