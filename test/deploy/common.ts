/** What the deploy/ checks share: the real CLIs' parsers, the files, and mounts and paths inside the image. */
import { existsSync, readFileSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import * as coordinatorPackage from '@alexnet/coordinator';
import { loadConfig } from '@alexnet/core';
import { towerCommand } from '@alexnet/tower/cli';
import type { Command } from 'commander';
import { parseAllDocuments } from 'yaml';
import { root } from '../helpers.js';
import type { Image } from './dockerfile.js';

// The real address parser; @alexnet/coordinator does not export it (yet), so from its build output.
export type ParseListen = (v: string) => { host: string; port: number };
export const parseListen: ParseListen =
  (coordinatorPackage as { parseListen?: ParseListen }).parseListen ??
  ((await import('../../packages/coordinator/dist/towers/listen.js')) as { parseListen: ParseListen }).parseListen;
export const { coordinatorProgram } = coordinatorPackage;

// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped data, read field by field
export type Obj = Record<string, any>;

export const deployDir = join(root, 'deploy');
export const composeFile = join(deployDir, 'compose.yaml');
export const k8sDir = join(deployDir, 'k8s');
export const dockerfile = join(deployDir, 'Dockerfile');
export const KEYS_SECRET = 'alexnet-keys';
export const COMPLETION_INDEX = /^metadata\.(annotations|labels)\['batch\.kubernetes\.io\/job-completion-index'\]$/;
export const rel = (f: string): string => relative(root, f);

export function readYaml(file: string): Obj[] {
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

export interface Parsed {
  command: string;
  opts: Obj;
}

/**
 * Parse argv (argv[0] is the program) with a fresh CLI whose actions only record the options. An unknown
 * flag, a bad value, a missing required option or a stray argument throws, with commander's message.
 */
export async function parseCli(argv: string[], env: Record<string, string> = {}): Promise<Parsed> {
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
export async function parseOr(problems: string[], where: string, argv: string[], env: Record<string, string> = {}): Promise<Parsed | undefined> {
  try {
    return await parseCli(argv, env);
  } catch (e) {
    const envText = env.TOWER_INDEX !== undefined ? `TOWER_INDEX=${env.TOWER_INDEX} ` : '';
    problems.push(`${where}: \`${envText}${argv.join(' ')}\` is refused by the ${argv[0]} CLI: ${(e as Error).message}`);
    return undefined;
  }
}

export function listenPort(problems: string[], where: string, flag: string, v: unknown): { host: string; port: number } | undefined {
  try {
    return parseListen(String(v));
  } catch (e) {
    problems.push(`${where}: ${flag} ${String(v)}: ${(e as Error).message}`);
    return undefined;
  }
}

/** A file of the repository that the image holds at `path` (relative to the container's working directory). */
export function repoFile(problems: string[], where: string, path: string, cwd: string, image: Image): string | undefined {
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
export function towerCount(problems: string[], where: string, o: Obj, cwd: string, image: Image): number | undefined {
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

export interface Mount {
  target: string;
  readOnly: boolean;
  /** Holds the keys: ./keys (compose) or the alexnet-keys Secret (Kubernetes). */
  keys: boolean;
  /** Survives the container: a volume, a bind mount or a PVC. */
  persistent: boolean;
  describe: string;
}

export const within = (path: string, m: Mount): boolean => path === m.target || path.startsWith(`${m.target.replace(/\/$/, '')}/`);
export const mountOf = (path: string, mounts: Mount[]): Mount | undefined => mounts.filter((m) => within(path, m)).sort((a, b) => b.target.length - a.target.length)[0];

/** --keys is the keys mount, read-only; --data, --out and --resume are on mounts (--out a writable, lasting one). */
export function checkPaths(problems: string[], where: string, o: Obj, cwd: string, mounts: Mount[]): void {
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

/**
 * A tower's CUDA kernel cache (CUDA_CACHE_PATH, from the container or the image) must be on a volume that
 * outlives the container: on GPUs newer than libtensorflow 2.9's kernels a restarted tower would otherwise
 * JIT-compile them again, for minutes.
 */
export function checkCudaCache(problems: string[], where: string, env: Record<string, string>, image: Image, mounts: Mount[]): void {
  const path = env.CUDA_CACHE_PATH ?? image.env.CUDA_CACHE_PATH;
  if (!path) return void problems.push(`${where}: no CUDA_CACHE_PATH (in the image or the container): kernels CUDA compiles from PTX would be lost with the container`);
  if (!(Number(env.CUDA_CACHE_MAXSIZE ?? image.env.CUDA_CACHE_MAXSIZE) >= 2 ** 30))
    problems.push(`${where}: CUDA_CACHE_MAXSIZE is under 1 GiB (CUDA's default 256 MiB holds few of libtensorflow's kernels)`);
  const m = mounts.find((x) => x.target === path);
  if (!m?.persistent) problems.push(`${where}: CUDA_CACHE_PATH ${path} is ${m ? `on ${m.describe}, which` : 'not on a volume: it'} is lost when the tower is replaced`);
}
