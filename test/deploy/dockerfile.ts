/** deploy/Dockerfile read as the image it builds: stages, ARG and ENV, the final user, workdir and files. */
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { root } from '../helpers.js';
import { dockerfile, type Obj, rel } from './common.js';

// ─── The image ───────────────────────────────────────────────────────────────────────────────────────────

export interface Stage {
  from: string;
  name?: string;
  ins: { op: string; arg: string }[];
}

/** Instructions of a Dockerfile, continuation lines joined, comments dropped, grouped by stage. */
export function parseDockerfile(text: string): { args: Obj; stages: Stage[] } {
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
export function keyValues(arg: string): Obj {
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
export interface Image {
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

export function checkDockerfile(text: string, ignore: string | undefined): Image {
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
  const chain = chainOf(stages.at(-1)!);
  const vars: Obj = { ...args };
  for (const i of chain.flatMap((s) => s.ins)) if (i.op === 'ARG' || i.op === 'ENV') Object.assign(vars, keyValues(i.arg));
  const b: Build = { problems: [], where, args, stages, chain, chainOf, vars };
  checkBase(b);
  checkNode(b);
  checkGpuInstall(b);
  const { workdir, uid } = checkFinal(b);
  checkIgnore(b, ignore);
  return {
    problems: b.problems,
    workdir,
    ...(uid !== undefined ? { uid } : {}),
    ignore: ignore ?? '',
    env: Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, String(v)])),
  };
}

/** The Dockerfile as the checks read it: its stages, the chain the final stage is built on, its variables. */
interface Build {
  problems: string[];
  where: string;
  args: Obj;
  stages: Stage[];
  chain: Stage[];
  chainOf: (s: Stage) => Stage[];
  vars: Obj;
}

function checkBase({ problems, where, args, stages }: Build): void {
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
}

function checkNode({ problems, where, chain, vars }: Build): void {
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
}

function checkGpuInstall({ problems, where, stages }: Build): void {
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
}

function checkFinal({ problems, where, stages, chain, chainOf }: Build): { workdir: string; uid: number | undefined } {
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
  return { workdir, uid };
}

function checkIgnore({ problems, where }: Build, ignore: string | undefined): void {
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
}
