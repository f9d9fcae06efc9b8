/**
 * deploy/ (the GPU image, compose, Kubernetes) has never run here: no Docker daemon, cluster or GPU. What can
 * be checked is that it agrees with the code and with itself. Every coordinator and tower command line in
 * deploy/compose.yaml and deploy/k8s/*.yaml is parsed by the real CLIs (coordinatorProgram, towerCommand),
 * so a renamed flag or a bad value fails here; the coordinator's --listen port is the Service's, the
 * container's and every tower's --connect port; towers connect to the coordinator's service name; --keys
 * is where the keys are mounted read-only; the tower count is the config's net.groups; GPUs are requested
 * and each tower's --gpu is a device its container can see; the Dockerfile is CUDA 11.2 + cuDNN 8 with
 * Node 20 and fails its build without @tensorflow/tfjs-node-gpu. Each check returns problems as sentences
 * naming the file and the field; the last tests break manifests in memory and expect them named.
 * Nothing here writes a file.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative, resolve } from 'node:path';
import * as coordinatorPackage from '@alexnet/coordinator';
import { loadConfig } from '@alexnet/core';
import { towerCommand } from '@alexnet/tower/cli';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { root } from './helpers.js';

// The real address parser; @alexnet/coordinator does not export it (yet), so from its build output.
type ParseListen = (v: string) => { host: string; port: number };
const parseListen: ParseListen =
  (coordinatorPackage as { parseListen?: ParseListen }).parseListen ??
  ((await import('../packages/coordinator/dist/towers/listen.js')) as { parseListen: ParseListen }).parseListen;
const { coordinatorProgram } = coordinatorPackage;

// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped data, read field by field
type Obj = Record<string, any>;

const deployDir = join(root, 'deploy');
const composeFile = join(deployDir, 'compose.yaml');
const k8sDir = join(deployDir, 'k8s');
const dockerfile = join(deployDir, 'Dockerfile');
const KEYS_SECRET = 'alexnet-keys';
const COMPLETION_INDEX = /^metadata\.(annotations|labels)\['batch\.kubernetes\.io\/job-completion-index'\]$/;
const rel = (f: string): string => relative(root, f);

function readYaml(file: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const out: Obj[] = [];
  for (const d of docs) {
    if (d.errors.length > 0) throw new Error(`${rel(file)}: not YAML: ${d.errors.map((e) => e.message).join('; ')}`);
    const v = d.toJSON();
    if (v !== null && v !== undefined) out.push(v);
  }
  return out;
}

// ─── The CLIs ────────────────────────────────────────────────────────────────────────────────────────────

interface Parsed {
  command: string;
  opts: Obj;
}

/**
 * Parse argv (argv[0] is the program) with a fresh CLI whose actions only record the options. An unknown
 * flag, a bad value, a missing required option or a stray argument throws, with commander's message.
 */
async function parseCli(argv: string[], env: Record<string, string> = {}): Promise<Parsed> {
  const [bin, ...args] = argv;
  if (bin !== 'coordinator' && bin !== 'tower') throw new Error(`runs "${bin}", which is neither coordinator nor tower`);
  const program: Command = bin === 'coordinator' ? coordinatorProgram() : towerCommand();
  let got: Parsed | undefined;
  const record = function (this: Command): void {
    got = { command: this.name(), opts: this.opts() };
  };
  for (const c of [program, ...program.commands]) {
    c.exitOverride();
    c.configureOutput({ writeErr: () => {}, writeOut: () => {} });
    if (c !== program || program.commands.length === 0) c.action(record);
  }
  // The container's environment and nothing of ours (the tower reads TOWER_INDEX).
  const saved = { TOWER_INDEX: process.env.TOWER_INDEX, ...Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]])) };
  delete process.env.TOWER_INDEX;
  Object.assign(process.env, env);
  try {
    await program.parseAsync(args, { from: 'user' });
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  if (!got) throw new Error('no command ran');
  return got;
}

/** Parse, or add a problem naming where and the command line. */
async function parseOr(problems: string[], where: string, argv: string[], env: Record<string, string> = {}): Promise<Parsed | undefined> {
  try {
    return await parseCli(argv, env);
  } catch (e) {
    const envText = env.TOWER_INDEX !== undefined ? `TOWER_INDEX=${env.TOWER_INDEX} ` : '';
    problems.push(`${where}: \`${envText}${argv.join(' ')}\` is refused by the ${argv[0]} CLI: ${(e as Error).message}`);
    return undefined;
  }
}

function listenPort(problems: string[], where: string, flag: string, v: unknown): { host: string; port: number } | undefined {
  try {
    return parseListen(String(v));
  } catch (e) {
    problems.push(`${where}: ${flag} ${String(v)}: ${(e as Error).message}`);
    return undefined;
  }
}

// ─── The image ───────────────────────────────────────────────────────────────────────────────────────────

interface Stage {
  from: string;
  name?: string;
  ins: { op: string; arg: string }[];
}

/** Instructions of a Dockerfile, continuation lines joined, comments dropped, grouped by stage. */
function parseDockerfile(text: string): { args: Obj; stages: Stage[] } {
  const lines: string[] = [];
  let cur = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (/^\s*#/.test(line)) continue;
    if (line.endsWith('\\')) {
      cur += `${line.slice(0, -1)} `;
      continue;
    }
    cur += line;
    if (cur.trim()) lines.push(cur.trim());
    cur = '';
  }
  if (cur.trim()) lines.push(cur.trim());
  const args: Obj = {};
  const stages: Stage[] = [];
  for (const l of lines) {
    const m = /^(\w+)\s+([\s\S]*)$/.exec(l);
    if (!m) continue;
    const op = m[1]!.toUpperCase();
    const arg = m[2]!;
    if (op === 'FROM') {
      const f = /^(?:--\S+\s+)*(\S+)(?:\s+as\s+(\S+))?$/i.exec(arg.trim());
      stages.push({ from: f?.[1] ?? arg, ...(f?.[2] ? { name: f[2].toLowerCase() } : {}), ins: [] });
    } else if (stages.length === 0) {
      if (op === 'ARG') Object.assign(args, keyValues(arg));
    } else stages.at(-1)!.ins.push({ op, arg });
  }
  return { args, stages };
}

/** `K=V K2="V 2"` (or the old `K V` form of ENV). */
function keyValues(arg: string): Obj {
  const out: Obj = {};
  if (!/^\S+=/.test(arg.trim())) {
    const [k, ...v] = arg.trim().split(/\s+/);
    out[k!] = v.join(' ');
    return out;
  }
  for (const m of arg.matchAll(/([A-Za-z_][A-Za-z0-9_]*)(?:=("[^"]*"|'[^']*'|\S*))?/g)) out[m[1]!] = (m[2] ?? '').replace(/^["']|["']$/g, '');
  return out;
}

/** What the manifests rely on in the image. */
interface Image {
  problems: string[];
  /** Where the repository is in the image: the final working directory. */
  workdir: string;
  /** The user the final stage runs as, when numeric. */
  uid?: number;
  /** The dockerignore's text ('' if none). */
  ignore: string;
  /** The final image's environment (ENV and ARG values). */
  env: Record<string, string>;
}

function checkDockerfile(text: string, ignore: string | undefined): Image {
  const problems: string[] = [];
  const where = rel(dockerfile);
  const { args, stages } = parseDockerfile(text);
  if (stages.length === 0) return { problems: [`${where}: no FROM`], workdir: '/', ignore: ignore ?? '', env: {} };
  // the stages the final one is built on, base first
  const chainOf = (s: Stage): Stage[] => {
    const base = stages
      .slice(0, stages.indexOf(s))
      .reverse()
      .find((p) => p.name === s.from.toLowerCase());
    return base ? [...chainOf(base), s] : [s];
  };
  const final = stages.at(-1)!;
  const chain = chainOf(final);
  const sub = (s: string): string => s.replace(/\$\{?(\w+)\}?/g, (m, k: string) => (k in args ? String(args[k]) : m));

  // Base: every stage that starts from an image (not from another stage) is CUDA 11.2 + cuDNN 8, so native
  // addons are installed on the glibc they run on.
  for (const s of stages) {
    if (stages.some((p) => p !== s && p.name === s.from.toLowerCase())) continue;
    const image = sub(s.from);
    if (!/^(docker\.io\/)?nvidia\/cuda:11\.2(\.\d+)?-cudnn8-(runtime|devel)-ubuntu\d+\.\d+$/.test(image)) {
      problems.push(`${where}: FROM ${image}: tfjs-node-gpu 4.x needs CUDA 11.2 with cuDNN 8 (nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04)`);
    }
  }

  const vars: Obj = { ...args };
  for (const i of chain.flatMap((s) => s.ins)) if (i.op === 'ARG' || i.op === 'ENV') Object.assign(vars, keyValues(i.arg));

  // Node 20: the official tarball of a 20.x NODE_VERSION, or NodeSource's 20.x.
  const runs = chain
    .flatMap((s) => s.ins)
    .filter((i) => i.op === 'RUN')
    .map((i) => i.arg);
  const nodeVersion = String(vars.NODE_VERSION ?? '');
  const tarball = runs.some((r) => /nodejs\.org\/dist\/v\$\{?NODE_VERSION\}?\//.test(r)) && /^20\.\d+\.\d+$/.test(nodeVersion);
  const nodesource = runs.some((r) => /setup_20\.x|node_20\.x/.test(r));
  if (!tarball && !nodesource)
    problems.push(
      `${where}: the final image does not install Node 20 (a nodejs.org/dist/v\${NODE_VERSION} tarball with NODE_VERSION=20.x.y, or NodeSource's setup_20.x); NODE_VERSION is "${nodeVersion}"`,
    );

  // tfjs-node-gpu: installed (an optional dependency of packages/core, or by name) and checked after the
  // install in the same stage, since npm drops an optional dependency whose install script failed.
  const corePkg = JSON.parse(readFileSync(join(root, 'packages/core/package.json'), 'utf8')) as Obj;
  const declared = '@tensorflow/tfjs-node-gpu' in { ...corePkg.dependencies, ...corePkg.optionalDependencies };
  let checked = false;
  for (const s of stages) {
    const ins = s.ins.filter((i) => i.op === 'RUN').map((i) => i.arg);
    const install = ins.findIndex((r) => /\bnpm (ci|install)\b/.test(r) && (declared || r.includes('@tensorflow/tfjs-node-gpu')));
    if (install >= 0 && ins.slice(install).some((r) => /\bnpm (ls|list)\b[^;&|]*@tensorflow\/tfjs-node-gpu/.test(r))) checked = true;
  }
  if (!checked)
    problems.push(
      `${where}: no \`npm ls @tensorflow/tfjs-node-gpu\` after the npm install in the same stage: a failed GPU install would go unnoticed (npm drops a failed optional dependency and exits 0)`,
    );

  // The final image: where the repository is, who runs it, coordinator and tower on PATH, no ENTRYPOINT.
  const last = (op: string): string | undefined =>
    chain
      .flatMap((s) => s.ins)
      .filter((i) => i.op === op)
      .at(-1)
      ?.arg.trim();
  const workdir = last('WORKDIR') ?? '/';
  let copied: string | undefined;
  for (const s of stages) {
    let wd = '/';
    for (const i of chainOf(s).flatMap((c) => c.ins)) {
      if (i.op === 'WORKDIR') wd = posix.resolve(wd, i.arg.trim());
      const m = i.op === 'COPY' && /^(?:--\S+\s+)*\.\s+(\S+)$/.exec(i.arg.trim());
      if (m && !/--from/.test(i.arg)) copied = posix.resolve(wd, m[1]!);
    }
  }
  if (copied !== workdir)
    problems.push(
      `${where}: the repository is copied to ${copied ?? '(nowhere: no COPY . DIR)'} but the final WORKDIR is ${workdir}; relative paths in the manifests (--config) are read from the WORKDIR`,
    );
  const user = last('USER');
  const uid = user === undefined ? 0 : /^\d+/.test(user) ? Number(/^\d+/.exec(user)![0]) : undefined;
  if (user === undefined || uid === 0 || /^root\b/.test(user))
    problems.push(`${where}: the final image runs as root; give it a USER (numeric, so Kubernetes runAsNonRoot can check it)`);
  const path = String(
    keyValues(
      chain
        .flatMap((s) => s.ins)
        .filter((i) => i.op === 'ENV' && /\bPATH\b/.test(i.arg))
        .at(-1)?.arg ?? '',
    ).PATH ?? '',
  );
  if (!path.split(':').includes(posix.join(workdir, 'node_modules/.bin')))
    problems.push(`${where}: PATH ("${path}") lacks ${posix.join(workdir, 'node_modules/.bin')}, where npm links the coordinator and tower bins`);
  if (chain.some((s) => s.ins.some((i) => i.op === 'ENTRYPOINT')))
    problems.push(`${where}: has an ENTRYPOINT: compose's command and Kubernetes' args would be passed to it instead of run`);
  const pkg = (p: string): Obj => JSON.parse(readFileSync(join(root, p, 'package.json'), 'utf8')) as Obj;
  const workspaces = (pkg('.').workspaces ?? []) as string[];
  for (const [dir, bin] of [
    ['packages/coordinator', 'coordinator'],
    ['packages/tower', 'tower'],
  ] as const) {
    if (!workspaces.includes(dir) || !pkg(dir).bin?.[bin]) problems.push(`package.json: ${dir} is not a workspace with the bin "${bin}": it would not land in node_modules/.bin`);
  }

  // The build context: the host's node_modules (addons for another glibc) and the keys stay out.
  if (ignore === undefined) problems.push(`${where}: no deploy/Dockerfile.dockerignore (or .dockerignore): the host's node_modules and deploy/keys would be sent into the image`);
  else {
    const patterns = ignore
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    if (!patterns.some((p) => /^(\*\*\/|\/)?node_modules\/?$/.test(p))) problems.push(`${where}.dockerignore: does not exclude node_modules`);
    if (!patterns.some((p) => /^\/?deploy\/keys\/?$/.test(p))) problems.push(`${where}.dockerignore: does not exclude deploy/keys: the secret keys would be baked into the image`);
  }
  return { problems, workdir, ...(uid !== undefined ? { uid } : {}), ignore: ignore ?? '', env: Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, String(v)])) };
}

/** A file of the repository that the image holds at `path` (relative to the container's working directory). */
function repoFile(problems: string[], where: string, path: string, cwd: string, image: Image): string | undefined {
  const inImage = posix.resolve(cwd, path);
  if (!inImage.startsWith(`${image.workdir}/`)) {
    problems.push(`${where}: --config ${path} is ${inImage} in the container, outside the repository (${image.workdir})`);
    return undefined;
  }
  const inRepo = posix.relative(image.workdir, inImage);
  const file = join(root, inRepo);
  if (!existsSync(file)) {
    problems.push(`${where}: --config ${path}: ${inRepo} does not exist in the repository`);
    return undefined;
  }
  const segments = inRepo.split('/');
  for (const p of image.ignore
    .split('\n')
    .map((l) => l.trim().replace(/^\//, '').replace(/\/$/, ''))
    .filter((l) => l && !l.startsWith('#'))) {
    const hit = segments.some((_, i) => segments.slice(0, i + 1).join('/') === p || (p.startsWith('**/') && segments[i] === p.slice(3)));
    if (hit) problems.push(`${where}: --config ${path}: ${inRepo} is excluded from the image by the dockerignore pattern "${p}"`);
  }
  return file;
}

/** How many towers a coordinator command waits for: --gpus, else the config's net.groups. */
function towerCount(problems: string[], where: string, o: Obj, cwd: string, image: Image): number | undefined {
  if (typeof o.config !== 'string') return undefined;
  const file = repoFile(problems, where, o.config, cwd, image);
  if (!file) return undefined;
  try {
    return (o.gpus as string[] | undefined)?.length ?? loadConfig(file).net.groups;
  } catch (e) {
    problems.push(`${where}: --config ${o.config}: ${(e as Error).message}`);
    return undefined;
  }
}

// ─── Mounts, shared by compose and Kubernetes ───────────────────────────────────────────────────────────

interface Mount {
  target: string;
  readOnly: boolean;
  /** Holds the keys: ./keys (compose) or the alexnet-keys Secret (Kubernetes). */
  keys: boolean;
  /** Survives the container: a volume, a bind mount or a PVC. */
  persistent: boolean;
  describe: string;
}

const within = (path: string, m: Mount): boolean => path === m.target || path.startsWith(`${m.target.replace(/\/$/, '')}/`);
const mountOf = (path: string, mounts: Mount[]): Mount | undefined => mounts.filter((m) => within(path, m)).sort((a, b) => b.target.length - a.target.length)[0];

/** --keys is the keys mount, read-only; --data, --out and --resume are on mounts (--out a writable, lasting one). */
function checkPaths(problems: string[], where: string, o: Obj, cwd: string, mounts: Mount[]): void {
  const keys = mounts.filter((m) => m.keys);
  if (keys.length === 0) problems.push(`${where}: mounts no keys (./keys in compose, the Secret ${KEYS_SECRET} in Kubernetes)`);
  if (typeof o.keys !== 'string') problems.push(`${where}: no --keys: the traffic would be neither authenticated nor encrypted`);
  else {
    const path = posix.resolve(cwd, o.keys);
    const m = keys.find((k) => posix.resolve(k.target) === path);
    if (!m) problems.push(`${where}: --keys ${o.keys} is not where the keys are mounted (${keys.map((k) => `${k.target} from ${k.describe}`).join(', ') || 'nowhere'})`);
    else if (!m.readOnly) problems.push(`${where}: the keys (${m.describe}) are mounted at ${m.target} read-write; mount them read-only`);
  }
  for (const flag of ['data', 'out', 'resume'] as const) {
    if (typeof o[flag] !== 'string') continue;
    const path = posix.resolve(cwd, o[flag]);
    const m = mountOf(path, mounts);
    if (!m) problems.push(`${where}: --${flag} ${o[flag]} is on no mount: ${flag === 'data' ? 'the data is not there' : 'the run directory would be lost with the container'}`);
    else if (flag === 'out' && (m.readOnly || !m.persistent))
      problems.push(`${where}: --out ${o.out} is on ${m.describe}, which is ${m.readOnly ? 'read-only' : 'not persistent'}`);
  }
}

// ─── compose ─────────────────────────────────────────────────────────────────────────────────────────────

/** Split a short volume spec at the colons outside `${...}`. */
function splitVolume(v: string): string[] {
  const out = [''];
  let depth = 0;
  for (const ch of v) {
    if (ch === '{') depth++;
    if (ch === '}') depth--;
    if (ch === ':' && depth === 0) out.push('');
    else out[out.length - 1] += ch;
  }
  return out;
}

function composeMounts(svc: Obj): Mount[] {
  return ((svc.volumes ?? []) as (string | Obj)[]).map((v) => {
    const [source, target, mode] = typeof v === 'string' ? splitVolume(v) : [v.source, v.target, v.read_only ? 'ro' : ''];
    const type = typeof v === 'string' ? (/^[./~$]/.test(String(source)) ? 'bind' : 'volume') : String(v.type ?? 'volume');
    const keys = type === 'bind' && typeof source === 'string' && resolve(deployDir, source) === join(deployDir, 'keys');
    return {
      target: String(target),
      readOnly: String(mode ?? '')
        .split(',')
        .includes('ro'),
      keys,
      persistent: type === 'bind' || type === 'volume',
      describe: `${type} ${String(source)}`,
    };
  });
}

function composeEnv(svc: Obj): Record<string, string> {
  const e = svc.environment ?? {};
  if (Array.isArray(e)) return Object.fromEntries(e.map((kv: string) => [kv.split('=')[0], kv.split('=').slice(1).join('=')]));
  return Object.fromEntries(Object.entries(e as Obj).map(([k, v]) => [k, String(v ?? '')]));
}

async function checkCompose(doc: Obj, image: Image, file = composeFile): Promise<string[]> {
  const problems: string[] = [];
  const services = (doc.services ?? {}) as Obj;
  const procs: { name: string; where: string; svc: Obj; argv: string[] }[] = [];
  for (const [name, svc] of Object.entries(services)) {
    const where = `${rel(file)} services.${name}`;
    if (svc.entrypoint !== undefined) problems.push(`${where}: sets entrypoint; give the whole command line in command`);
    if (!Array.isArray(svc.command)) {
      problems.push(`${where}: command must be a list (coordinator|tower, then the flags), not ${JSON.stringify(svc.command)}`);
      continue;
    }
    procs.push({ name, where, svc, argv: svc.command.map(String) });
  }

  // One image, built from deploy/Dockerfile with the repository as context.
  const images = new Set(Object.values(services).map((s) => (s as Obj).image));
  if (images.size !== 1) problems.push(`${rel(file)}: the services use ${images.size} images (${[...images].join(', ')}); coordinator and towers must run the same code`);
  const builds = Object.values(services)
    .filter((s) => (s as Obj).build)
    .map((s) => (s as Obj).build as Obj | string);
  if (builds.length === 0) problems.push(`${rel(file)}: no service builds the image (build: context .., dockerfile deploy/Dockerfile)`);
  for (const b of builds) {
    const context = resolve(deployDir, typeof b === 'string' ? b : String(b.context ?? '.'));
    const df = resolve(context, typeof b === 'string' ? 'Dockerfile' : String(b.dockerfile ?? 'Dockerfile'));
    if (context !== root || df !== dockerfile)
      problems.push(`${rel(file)}: builds ${rel(df)} with context ${rel(context) || '.'}; the image is deploy/Dockerfile with the repository root as context`);
  }

  const coordinators = procs.filter((p) => p.argv[0] === 'coordinator');
  const towers = procs.filter((p) => p.argv[0] === 'tower');
  for (const p of procs) if (!coordinators.includes(p) && !towers.includes(p)) problems.push(`${p.where}: runs "${p.argv[0]}", neither coordinator nor tower`);
  if (coordinators.length !== 1) {
    problems.push(`${rel(file)}: ${coordinators.length} coordinator services; there must be one`);
    return problems;
  }

  const c = coordinators[0]!;
  const cwd = String(c.svc.working_dir ?? image.workdir);
  const co = (await parseOr(problems, c.where, c.argv, composeEnv(c.svc)))?.opts;
  let port: number | undefined;
  let count: number | undefined;
  if (co) {
    if (co.listen === undefined) problems.push(`${c.where}: no --listen: the coordinator would spawn its own towers instead of waiting for the tower services`);
    else port = listenPort(problems, c.where, '--listen', co.listen)?.port;
    count = towerCount(problems, c.where, co, cwd, image);
    checkPaths(problems, c.where, co, cwd, composeMounts(c.svc));
    const restarting = towers.filter((t) => /^(on-failure|always|unless-stopped)/.test(String(t.svc.restart ?? 'no')));
    if (restarting.length > 0 && !(Number(co.maxRestarts) >= 1))
      problems.push(`${c.where}: towers restart (restart: ${restarting[0]!.svc.restart}) but without --max-restarts N the coordinator would not take a restarted tower back`);
    if (/^(on-failure|always|unless-stopped)/.test(String(c.svc.restart ?? 'no')) && !co.continue)
      problems.push(`${c.where}: the coordinator restarts (restart: ${c.svc.restart}) but without --continue it would start the run over`);
  }

  // The towers: as many as the config has, indices 0..N-1, each on its own GPU.
  if (count !== undefined && towers.length !== count) problems.push(`${rel(file)}: ${towers.length} tower services, but ${co?.config} has ${count} towers (net.groups)`);
  const indices: number[] = [];
  const devices = new Map<string, string>();
  for (const t of towers) {
    const to = (await parseOr(problems, t.where, t.argv, composeEnv(t.svc)))?.opts;
    if (!to) continue;
    indices.push(Number(to.index));
    const at = listenPort(problems, t.where, '--connect', to.connect);
    if (at && at.host !== c.name) problems.push(`${t.where}: --connect ${to.connect} names host "${at.host}", not the coordinator service "${c.name}"`);
    if (at && port !== undefined && at.port !== port)
      problems.push(`${t.where}: --connect ${to.connect} has port ${at.port}, but the coordinator listens on ${port} (${co?.listen})`);
    checkPaths(problems, t.where, to, String(t.svc.working_dir ?? image.workdir), composeMounts(t.svc));
    checkCudaCache(problems, t.where, composeEnv(t.svc), image, composeMounts(t.svc));
    if (to.backend === 'wasm' || to.backend === 'cpu') problems.push(`${t.where}: --backend ${to.backend} would leave its GPU unused`);
    const gpus = ((t.svc.deploy?.resources?.reservations?.devices ?? []) as Obj[]).filter((d) => (d.capabilities ?? []).flat().includes('gpu'));
    if (gpus.length !== 1 || gpus[0]!.driver !== 'nvidia' || !Array.isArray(gpus[0]!.device_ids)) {
      problems.push(`${t.where}: reserves no GPU by id (deploy.resources.reservations.devices: [{ driver: nvidia, device_ids: ['N'], capabilities: [gpu] }])`);
      continue;
    }
    const ids = (gpus[0]!.device_ids as unknown[]).map(String);
    for (const id of ids) {
      if (devices.has(id)) problems.push(`${t.where}: reserves GPU ${id}, which ${devices.get(id)} reserves too`);
      devices.set(id, `services.${t.name}`);
    }
    if (ids.length !== 1) problems.push(`${t.where}: reserves GPUs [${ids.join(', ')}]; a tower uses one`);
    // The container sees only its reserved GPUs, numbered from 0: host GPU 1 is device 0 inside.
    if (to.gpu === undefined) problems.push(`${t.where}: no --gpu: the tower would not try the GPU backend`);
    else if (!/^\d+$/.test(String(to.gpu)) || Number(to.gpu) >= ids.length) {
      problems.push(
        `${t.where}: --gpu ${to.gpu}, but the container sees only its reserved GPU${ids.length === 1 ? '' : 's'} [${ids.join(', ')}], numbered from 0 inside it: use --gpu ${ids.length === 1 ? '0' : `0..${ids.length - 1}`}`,
      );
    }
  }
  const want = Array.from({ length: count ?? towers.length }, (_, i) => i);
  if (JSON.stringify([...indices].sort((a, b) => a - b)) !== JSON.stringify(want))
    problems.push(`${rel(file)}: tower indices are [${indices.join(', ')}]; the towers must be ${want.join(', ')}, each once`);
  return problems;
}

// ─── Kubernetes ──────────────────────────────────────────────────────────────────────────────────────────

interface K8sDoc {
  file: string;
  doc: Obj;
}

interface Container {
  where: string;
  owner: K8sDoc;
  pod: Obj;
  container: Obj;
  argv: string[];
}

/** The pod template of a workload, if it is one. */
function podOf(doc: Obj): { spec: Obj; labels: Obj } | undefined {
  if (doc.kind === 'Pod') return { spec: doc.spec ?? {}, labels: doc.metadata?.labels ?? {} };
  if (['Job', 'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet'].includes(doc.kind))
    return { spec: doc.spec?.template?.spec ?? {}, labels: doc.spec?.template?.metadata?.labels ?? {} };
  if (doc.kind === 'CronJob') return { spec: doc.spec?.jobTemplate?.spec?.template?.spec ?? {}, labels: doc.spec?.jobTemplate?.spec?.template?.metadata?.labels ?? {} };
  return undefined;
}

const selects = (selector: Obj | undefined, labels: Obj): boolean => !!selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

/** `$(VAR)` in command and args, as the kubelet expands it from the container's env; `$$` is a literal `$`. */
function expand(problems: string[], where: string, s: string, env: Record<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name?: string) => {
    if (m === '$$') return '$';
    if (name! in env) return env[name!]!;
    problems.push(`${where}: ${m} in the command line is not an env var of the container with a value this test can know; the kubelet would pass it literally`);
    return m;
  });
}

/** The container's env as the test can know it: literal values, and the completion index when simulated. */
function containerEnv(container: Obj, index?: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of (container.env ?? []) as Obj[]) {
    if (e.value !== undefined) env[e.name] = String(e.value);
    else if (index !== undefined && COMPLETION_INDEX.test(String(e.valueFrom?.fieldRef?.fieldPath ?? ''))) env[e.name] = String(index);
  }
  return env;
}

function k8sMounts(pod: Obj, container: Obj): Mount[] {
  const volumes = new Map(((pod.volumes ?? []) as Obj[]).map((v) => [v.name, v]));
  return ((container.volumeMounts ?? []) as Obj[]).map((m) => {
    const v = volumes.get(m.name) ?? {};
    const kind = Object.keys(v).find((k) => k !== 'name') ?? 'missing';
    const source =
      kind === 'secret' ? `Secret ${v.secret?.secretName}` : kind === 'persistentVolumeClaim' ? `PVC ${v.persistentVolumeClaim?.claimName}` : `${kind} volume "${m.name}"`;
    return {
      target: String(m.mountPath),
      readOnly: m.readOnly === true,
      keys: kind === 'secret' && v.secret?.secretName === KEYS_SECRET,
      persistent: kind === 'persistentVolumeClaim' || kind === 'hostPath',
      describe: source,
    };
  });
}

/**
 * A tower's CUDA kernel cache (CUDA_CACHE_PATH, from the container or the image) must be on a volume that
 * outlives the container: on GPUs newer than libtensorflow 2.9's kernels a restarted tower would otherwise
 * JIT-compile them again, for minutes.
 */
function checkCudaCache(problems: string[], where: string, env: Record<string, string>, image: Image, mounts: Mount[]): void {
  const path = env.CUDA_CACHE_PATH ?? image.env.CUDA_CACHE_PATH;
  if (!path) return void problems.push(`${where}: no CUDA_CACHE_PATH (in the image or the container): kernels CUDA compiles from PTX would be lost with the container`);
  if (!(Number(env.CUDA_CACHE_MAXSIZE ?? image.env.CUDA_CACHE_MAXSIZE) >= 2 ** 30))
    problems.push(`${where}: CUDA_CACHE_MAXSIZE is under 1 GiB (CUDA's default 256 MiB holds few of libtensorflow's kernels)`);
  const m = mounts.find((x) => x.target === path);
  if (!m?.persistent) problems.push(`${where}: CUDA_CACHE_PATH ${path} is ${m ? `on ${m.describe}, which` : 'not on a volume: it'} is lost when the tower is replaced`);
}

/** The keys Secret's files must be readable by the container's user: mode bits, uid and fsGroup. */
function checkKeysReadable(problems: string[], where: string, pod: Obj, container: Obj, image: Image): void {
  const uid = container.securityContext?.runAsUser ?? pod.securityContext?.runAsUser ?? image.uid;
  const fsGroup = pod.securityContext?.fsGroup;
  for (const v of (pod.volumes ?? []) as Obj[]) {
    if (v.secret?.secretName !== KEYS_SECRET) continue;
    const mode = Number(v.secret.defaultMode ?? 0o644);
    const readable = uid === 0 || (mode & 0o004) !== 0 || ((mode & 0o040) !== 0 && fsGroup !== undefined);
    if (!readable)
      problems.push(
        `${where}: the Secret ${KEYS_SECRET} is mounted with mode 0${mode.toString(8)} (owner root) but the container runs as uid ${uid}: it could not read its keys (use 0440 with fsGroup)`,
      );
  }
}

async function checkK8s(docs: K8sDoc[], image: Image): Promise<string[]> {
  const problems: string[] = [];
  const containers: Container[] = [];
  for (const d of docs) {
    const pod = podOf(d.doc);
    if (!pod) continue;
    for (const c of (pod.spec.containers ?? []) as Obj[]) {
      const where = `${rel(d.file)} ${d.doc.kind}/${d.doc.metadata?.name} container ${c.name}`;
      if (!Array.isArray(c.command) || c.command.length === 0) {
        problems.push(`${where}: no command; the image has none (command: [coordinator] or [tower], flags in args)`);
        continue;
      }
      containers.push({ where, owner: d, pod: pod.spec, container: c, argv: [...c.command, ...(c.args ?? [])].map(String) });
    }
  }
  const coordinators = containers.filter((c) => c.argv[0] === 'coordinator');
  const towers = containers.filter((c) => c.argv[0] === 'tower');
  for (const c of containers) if (!coordinators.includes(c) && !towers.includes(c)) problems.push(`${c.where}: runs "${c.argv[0]}", neither coordinator nor tower`);
  if (coordinators.length === 0) problems.push(`${rel(k8sDir)}: no coordinator container`);
  if (towers.length === 0) problems.push(`${rel(k8sDir)}: no tower container`);
  const images = new Set([...coordinators, ...towers].map((c) => c.container.image));
  if (images.size > 1) problems.push(`${rel(k8sDir)}: coordinator and towers run different images (${[...images].join(', ')})`);
  const services = docs.filter((d) => d.doc.kind === 'Service');
  const towerLabels = towers.map((t) => podOf(t.owner.doc)!.labels);

  // The coordinators (the Job): --listen port = containerPort = Service port.
  const ports = new Set<number>();
  const counts = new Set<number>();
  let maxRestarts = Number.POSITIVE_INFINITY;
  for (const c of coordinators) {
    const cwd = String(c.container.workingDir ?? image.workdir);
    const o = (
      await parseOr(
        problems,
        c.where,
        c.argv.map((a) => expand(problems, c.where, a, containerEnv(c.container))),
      )
    )?.opts;
    if (!o) continue;
    const count = towerCount(problems, c.where, o, cwd, image);
    if (count !== undefined) counts.add(count);
    maxRestarts = Math.min(maxRestarts, Number(o.maxRestarts ?? 0));
    checkPaths(problems, c.where, o, cwd, k8sMounts(c.pod, c.container));
    checkKeysReadable(problems, c.where, c.pod, c.container, image);
    const again = c.pod.restartPolicy === 'OnFailure' || Number(c.owner.doc.spec?.backoffLimit ?? 6) > 0;
    if (again && !o.continue)
      problems.push(
        `${c.where}: the coordinator is restarted (restartPolicy ${c.pod.restartPolicy}, backoffLimit ${c.owner.doc.spec?.backoffLimit ?? 6}) but without --continue it would start the run over`,
      );
    if (o.listen === undefined) {
      problems.push(`${c.where}: no --listen: the coordinator would spawn its own towers instead of waiting for the tower pods`);
      continue;
    }
    const port = listenPort(problems, c.where, '--listen', o.listen)?.port;
    if (port === undefined) continue;
    ports.add(port);
    const declared = ((c.container.ports ?? []) as Obj[]).find((p) => p.containerPort === port);
    if (!declared)
      problems.push(`${c.where}: --listen ${o.listen}, but no containerPort ${port} (ports: ${JSON.stringify((c.container.ports ?? []).map((p: Obj) => p.containerPort))})`);
    const labels = podOf(c.owner.doc)!.labels;
    const mine = services.filter((s) => selects(s.doc.spec?.selector, labels));
    if (mine.length === 0) problems.push(`${c.where}: no Service selects this pod (labels ${JSON.stringify(labels)}): towers could not find it`);
    for (const s of mine) {
      const sw = `${rel(s.file)} Service/${s.doc.metadata?.name}`;
      if (s.doc.spec?.clusterIP !== 'None') problems.push(`${sw}: not headless (clusterIP: None)`);
      const sp: Obj | undefined = ((s.doc.spec?.ports ?? []) as Obj[]).find((p) => p.port === port);
      if (!sp) {
        problems.push(`${sw}: no port ${port}, where the coordinator listens (${o.listen}); it has ${JSON.stringify((s.doc.spec?.ports ?? []).map((p: Obj) => p.port))}`);
        continue;
      }
      const target: unknown = sp.targetPort ?? sp.port;
      const targetPort: unknown = typeof target === 'number' ? target : ((c.container.ports ?? []) as Obj[]).find((p) => p.name === target)?.containerPort;
      if (targetPort !== port)
        problems.push(
          `${sw}: port ${port} targets ${JSON.stringify(target)}${typeof target === 'string' ? ` (containerPort ${targetPort ?? 'none by that name'})` : ''}, not ${port} where the coordinator listens`,
        );
      for (const l of towerLabels) if (selects(s.doc.spec?.selector, l)) problems.push(`${sw}: its selector also matches the tower pods: the name would resolve to towers too`);
    }
  }
  if (ports.size > 1) problems.push(`${rel(k8sDir)}: the coordinators listen on different ports (${[...ports].join(', ')})`);
  if (counts.size > 1) problems.push(`${rel(k8sDir)}: the coordinators wait for different tower counts (${[...counts].join(', ')})`);
  const [port] = ports;
  const [count] = counts;

  // The towers: an Indexed Job of `count` pods at once, each with one GPU, on separate nodes.
  for (const t of towers) {
    const job = t.owner.doc;
    const jw = `${rel(t.owner.file)} ${job.kind}/${job.metadata?.name}`;
    const spec = job.spec ?? {};
    const indexed = job.kind === 'Job' && spec.completionMode === 'Indexed';
    if (!indexed) problems.push(`${jw}: the towers must be an Indexed Job (completionMode: Indexed): the completion index is the tower index`);
    if (count !== undefined && spec.completions !== count)
      problems.push(`${jw}: completions ${spec.completions}, but the coordinator waits for ${count} towers (net.groups of its --config)`);
    if (spec.parallelism !== spec.completions)
      problems.push(`${jw}: parallelism ${spec.parallelism ?? '1 (default)'} ≠ completions ${spec.completions}: every tower must run at once`);
    const restart = t.pod.restartPolicy;
    if (!(restart === 'OnFailure' || (restart === 'Never' && spec.podFailurePolicy)))
      problems.push(`${jw}: restartPolicy ${restart}; a failed tower must come back (OnFailure, or Never with a podFailurePolicy)`);
    if (!(Number(spec.backoffLimit) >= 1)) problems.push(`${jw}: backoffLimit ${spec.backoffLimit}: a tower could never be restarted`);
    if (maxRestarts < 1) problems.push(`${jw}: towers are restarted, but a coordinator has no --max-restarts N and would not take one back`);
    const gpus = t.container.resources?.limits?.['nvidia.com/gpu'];
    if (String(gpus) !== '1') problems.push(`${t.where}: resources.limits nvidia.com/gpu is ${gpus ?? 'not set'}; each tower needs exactly 1`);
    const anti = ((t.pod.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []) as Obj[]).filter(
      (a) => a.topologyKey === 'kubernetes.io/hostname' && selects(a.labelSelector?.matchLabels, podOf(job)!.labels),
    );
    if (anti.length === 0) problems.push(`${t.where}: no required podAntiAffinity on kubernetes.io/hostname selecting the tower pods: two towers could share a node`);
    checkKeysReadable(problems, t.where, t.pod, t.container, image);
    const indexVar = ((t.container.env ?? []) as Obj[]).find((e) => e.name === 'TOWER_INDEX');
    if (indexed && !COMPLETION_INDEX.test(String(indexVar?.valueFrom?.fieldRef?.fieldPath ?? '')) && !t.argv.some((a) => a.includes('$(JOB_COMPLETION_INDEX)'))) {
      problems.push(`${t.where}: TOWER_INDEX must come from fieldRef metadata.annotations['batch.kubernetes.io/job-completion-index']`);
    }
    // Each pod of the Job: the index the kubelet would give it, the command line it would run.
    const n = indexed ? Number(spec.completions ?? 1) : 1;
    for (let i = 0; i < n; i++) {
      const env: Record<string, string> = { ...containerEnv(t.container, indexed ? i : undefined), ...(indexed ? { JOB_COMPLETION_INDEX: String(i) } : {}) };
      const where = indexed ? `${t.where} (index ${i})` : t.where;
      const argv = t.argv.map((a) => expand(problems, where, a, env));
      const o = (await parseOr(problems, where, argv, 'TOWER_INDEX' in env ? { TOWER_INDEX: env.TOWER_INDEX! } : {}))?.opts;
      if (!o) break;
      if (indexed && o.index !== i) problems.push(`${where}: runs as tower ${o.index}, not ${i}`);
      const at = listenPort(problems, where, '--connect', o.connect);
      if (at) {
        const svc = services.find((s) => s.doc.metadata?.name === at.host.split('.')[0]);
        if (!svc) problems.push(`${where}: --connect ${o.connect}: no Service named "${at.host.split('.')[0]}" in ${rel(k8sDir)}`);
        else if (!coordinators.some((c) => selects(svc.doc.spec?.selector, podOf(c.owner.doc)!.labels)))
          problems.push(`${where}: --connect ${o.connect}: Service ${svc.doc.metadata?.name} does not select the coordinator`);
        if (port !== undefined && at.port !== port) problems.push(`${where}: --connect ${o.connect} has port ${at.port}, but the coordinator listens on ${port}`);
      }
      if (o.gpu === undefined) problems.push(`${where}: no --gpu: the tower would not try the GPU backend`);
      else if (String(o.gpu) !== '0') problems.push(`${where}: --gpu ${o.gpu}, but a pod with nvidia.com/gpu: 1 sees its GPU as device 0`);
      if (o.backend === 'wasm' || o.backend === 'cpu') problems.push(`${where}: --backend ${o.backend} would leave its GPU unused`);
      if (i === 0) checkPaths(problems, t.where, o, String(t.container.workingDir ?? image.workdir), k8sMounts(t.pod, t.container));
      if (i === 0) checkCudaCache(problems, t.where, containerEnv(t.container), image, k8sMounts(t.pod, t.container));
    }
  }
  return problems;
}

// ─── The files ───────────────────────────────────────────────────────────────────────────────────────────

const readImage = (): Image => {
  const ignoreFile = [join(deployDir, 'Dockerfile.dockerignore'), join(root, '.dockerignore')].find((f) => existsSync(f));
  return checkDockerfile(readFileSync(dockerfile, 'utf8'), ignoreFile ? readFileSync(ignoreFile, 'utf8') : undefined);
};
const k8sFiles = (): string[] =>
  readdirSync(k8sDir)
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => join(k8sDir, f));
const readK8s = (): K8sDoc[] => k8sFiles().flatMap((file) => readYaml(file).map((doc) => ({ file, doc })));
const clone = <T>(v: T): T => structuredClone(v);

describe('deploy/', () => {
  it('Dockerfile: CUDA 11.2 + cuDNN 8, Node 20, tfjs-node-gpu checked at build, non-root, coordinator and tower on PATH', () => {
    expect(readImage().problems).toEqual([]);
  });

  it('compose.yaml: every command line parses with the real CLIs; ports, host, keys, GPUs and tower count agree', async () => {
    const [doc] = readYaml(composeFile);
    expect(await checkCompose(doc!, readImage())).toEqual([]);
  });

  it('k8s/*.yaml: every command line parses with the real CLIs; Service, ports, keys, GPUs and the Indexed Job agree', async () => {
    const docs = readK8s();
    const problems = await checkK8s(docs, readImage());
    // Everything is a Kubernetes object, and kustomization.yaml lists files that exist.
    for (const { file, doc } of docs) {
      if (typeof doc.apiVersion !== 'string' || typeof doc.kind !== 'string' || (doc.kind !== 'Kustomization' && !doc.metadata?.name))
        problems.push(`${rel(file)}: not a Kubernetes object (apiVersion, kind, metadata.name)`);
      if (doc.kind === 'Kustomization') for (const r of doc.resources ?? []) if (!existsSync(join(k8sDir, r))) problems.push(`${rel(file)}: lists ${r}, which does not exist`);
    }
    expect(problems).toEqual([]);
  });

  // The checks themselves: break the manifests in memory and expect the break named.
  describe('a broken manifest is named', () => {
    const compose = (): Obj => clone(readYaml(composeFile)[0]!);
    const svc = (doc: Obj, name: string): Obj => doc.services[name];
    const setArg = (argv: string[], flag: string, value: string): void => {
      argv[argv.indexOf(flag) + 1] = value;
    };
    const k8s = (): K8sDoc[] => clone(readK8s());
    const container = (docs: K8sDoc[], bin: string): Obj => docs.map((d) => podOf(d.doc)?.spec.containers?.[0]).find((c) => c?.command?.[0] === bin)!;

    it.each([
      [
        'a tower --connect port',
        (d: Obj) => setArg(svc(d, 'tower-1').command, '--connect', 'tcp://coordinator:5556'),
        /tower-1: --connect tcp:\/\/coordinator:5556 has port 5556, but the coordinator listens on 5555/,
      ],
      ['the --listen port', (d: Obj) => setArg(svc(d, 'coordinator').command, '--listen', 'tcp://0.0.0.0:6000'), /has port 5555, but the coordinator listens on 6000/],
      [
        'a flag name',
        (d: Obj) => svc(d, 'tower-0').command.splice(svc(d, 'tower-0').command.indexOf('--keys'), 1, '--key-dir'),
        /tower-0: `tower .*--key-dir \/keys[^`]*` is refused by the tower CLI: error: unknown option '--key-dir'/,
      ],
      [
        'a coordinator flag name',
        (d: Obj) => svc(d, 'coordinator').command.splice(svc(d, 'coordinator').command.indexOf('--tower-wait'), 1, '--towers-wait'),
        /coordinator: `coordinator .*` is refused by the coordinator CLI: error: unknown option '--towers-wait'/,
      ],
      ['a bad value', (d: Obj) => setArg(svc(d, 'coordinator').command, '--max-restarts', 'three'), /is refused by the coordinator CLI: .*--max-restarts/],
      [
        'a GPU id (both on GPU 0)',
        (d: Obj) => (svc(d, 'tower-1').deploy.resources.reservations.devices[0].device_ids = ['0']),
        /tower-1: reserves GPU 0, which services.tower-0 reserves too/,
      ],
      [
        '--gpu as the host id',
        (d: Obj) => setArg(svc(d, 'tower-1').command, '--gpu', '1'),
        /tower-1: --gpu 1, but the container sees only its reserved GPU \[1\], numbered from 0 inside it: use --gpu 0/,
      ],
      ['a tower index', (d: Obj) => setArg(svc(d, 'tower-1').command, '--index', '2'), /tower indices are \[0, 2\]/],
      ['a missing tower', (d: Obj) => delete d.services['tower-1'], /1 tower services, but configs\/alexnet.yaml has 2 towers/],
      [
        'the keys mount',
        (d: Obj) => (svc(d, 'tower-0').volumes[0].target = '/secrets'),
        /tower-0: --keys \/keys is not where the keys are mounted \(\/secrets from bind .\/keys\)/,
      ],
      ['read-write keys', (d: Obj) => (svc(d, 'coordinator').volumes[0].read_only = false), /coordinator: the keys \(bind .\/keys\) are mounted at \/keys read-write/],
      ['the host', (d: Obj) => setArg(svc(d, 'tower-0').command, '--connect', 'tcp://coord:5555'), /names host "coord", not the coordinator service "coordinator"/],
      ['the config', (d: Obj) => setArg(svc(d, 'coordinator').command, '--config', 'configs/alexnet-2.yaml'), /configs\/alexnet-2.yaml does not exist in the repository/],
      ['the CUDA cache volume', (d: Obj) => svc(d, 'tower-1').volumes.pop(), /tower-1: CUDA_CACHE_PATH \/cuda-cache is not on a volume: it is lost when the tower is replaced/],
      ['the CUDA cache path', (d: Obj) => (svc(d, 'tower-0').environment = { CUDA_CACHE_PATH: '/tmp/cuda' }), /tower-0: CUDA_CACHE_PATH \/tmp\/cuda is not on a volume/],
    ])('compose: %s', async (_, breakIt, named) => {
      const doc = compose();
      breakIt(doc);
      const problems = await checkCompose(doc, readImage());
      expect(problems.join('\n')).toMatch(named);
    });

    it.each([
      [
        'the Service port',
        (d: K8sDoc[]) => (d.find((x) => x.doc.kind === 'Service')!.doc.spec.ports[0].port = 5556),
        /Service\/alexnet-coordinator: no port 5555, where the coordinator listens/,
      ],
      ['the containerPort', (d: K8sDoc[]) => (container(d, 'coordinator').ports[0].containerPort = 5556), /--listen tcp:\/\/0.0.0.0:5555, but no containerPort 5555/],
      [
        'a tower --connect port',
        (d: K8sDoc[]) => (container(d, 'tower').args[1] = 'tcp://alexnet-coordinator:5556'),
        /\(index 0\): --connect tcp:\/\/alexnet-coordinator:5556 has port 5556, but the coordinator listens on 5555/,
      ],
      ['the host', (d: K8sDoc[]) => (container(d, 'tower').args[1] = 'tcp://coordinator:5555'), /no Service named "coordinator"/],
      [
        'a flag name',
        (d: K8sDoc[]) => (container(d, 'tower').args[6] = '--key-dir'),
        /\(index 0\): `TOWER_INDEX=0 tower .*--key-dir \/keys[^`]*` is refused by the tower CLI: error: unknown option '--key-dir'/,
      ],
      ['the GPU limit', (d: K8sDoc[]) => (container(d, 'tower').resources.limits['nvidia.com/gpu'] = 2), /nvidia.com\/gpu is 2; each tower needs exactly 1/],
      ['--gpu', (d: K8sDoc[]) => (container(d, 'tower').args[3] = '1'), /--gpu 1, but a pod with nvidia.com\/gpu: 1 sees its GPU as device 0/],
      [
        'completions',
        (d: K8sDoc[]) => (d.find((x) => x.doc.metadata?.name === 'alexnet-towers')!.doc.spec.completions = 3),
        /completions 3, but the coordinator waits for 2 towers/,
      ],
      ['the tower index', (d: K8sDoc[]) => (container(d, 'tower').env[0].valueFrom.fieldRef.fieldPath = 'metadata.name'), /TOWER_INDEX must come from fieldRef/],
      ['the keys Secret', (d: K8sDoc[]) => (podOf(d.find((x) => x.doc.metadata?.name === 'alexnet-towers')!.doc)!.spec.volumes[0].secret.secretName = 'keys'), /mounts no keys/],
      [
        'the keys mode',
        (d: K8sDoc[]) => (podOf(d.find((x) => x.doc.metadata?.name === 'alexnet-towers')!.doc)!.spec.volumes[0].secret.defaultMode = 0o400),
        /mode 0400 \(owner root\) but the container runs as uid 1000/,
      ],
      ['the anti-affinity', (d: K8sDoc[]) => delete podOf(d.find((x) => x.doc.metadata?.name === 'alexnet-towers')!.doc)!.spec.affinity, /no required podAntiAffinity/],
      [
        'the Service selector',
        (d: K8sDoc[]) => (d.find((x) => x.doc.kind === 'Service')!.doc.spec.selector = { 'app.kubernetes.io/name': 'alexnet' }),
        /its selector also matches the tower pods/,
      ],
      [
        'the CUDA cache on an emptyDir',
        (d: K8sDoc[]) => (podOf(d.find((x) => x.doc.metadata?.name === 'alexnet-towers')!.doc)!.spec.volumes[1] = { name: 'cuda-cache', emptyDir: {} }),
        /CUDA_CACHE_PATH \/cuda-cache is on emptyDir volume "cuda-cache", which is lost when the tower is replaced/,
      ],
    ])('k8s: %s', async (_, breakIt, named) => {
      const docs = k8s();
      breakIt(docs);
      const problems = await checkK8s(docs, readImage());
      expect(problems.join('\n')).toMatch(named);
    });

    it.each([
      ['another CUDA', (t: string) => t.replace(/11\.2\.2-cudnn8/g, '11.8.0-cudnn8'), /FROM nvidia\/cuda:11.8.0-cudnn8-runtime-ubuntu20.04: tfjs-node-gpu 4.x needs CUDA 11.2/],
      ['another Node', (t: string) => t.replace(/NODE_VERSION=20\.\d+\.\d+/, 'NODE_VERSION=22.11.0'), /does not install Node 20/],
      ['no GPU check', (t: string) => t.replace(/npm ls @tensorflow\/tfjs-node-gpu/, 'true'), /no `npm ls @tensorflow\/tfjs-node-gpu` after the npm install/],
      ['root', (t: string) => t.replace(/^USER .*$/m, ''), /runs as root/],
      ['an ENTRYPOINT', (t: string) => `${t}\nENTRYPOINT ["tower"]\n`, /has an ENTRYPOINT/],
    ])('Dockerfile: %s', (_, breakIt, named) => {
      const image = checkDockerfile(breakIt(readFileSync(dockerfile, 'utf8')), readFileSync(join(deployDir, 'Dockerfile.dockerignore'), 'utf8'));
      expect(image.problems.join('\n')).toMatch(named);
    });
  });
});
