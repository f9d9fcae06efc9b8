/** deploy/compose.yaml checked against the real CLIs, the image and itself. */
import { join, resolve } from 'node:path';
import { root } from '../helpers.js';
import { checkCudaCache, checkPaths, composeFile, deployDir, dockerfile, listenPort, type Mount, type Obj, type Parsed, parseOr, rel, towerCount } from './common.js';
import type { Image } from './dockerfile.js';

// ─── compose ─────────────────────────────────────────────────────────────────────────────────────────────

/** Split a short volume spec at the colons outside `${...}`. */
export function splitVolume(v: string): string[] {
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

export function composeMounts(svc: Obj): Mount[] {
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

export function composeEnv(svc: Obj): Record<string, string> {
  const e = svc.environment ?? {};
  if (Array.isArray(e)) return Object.fromEntries(e.map((kv: string) => [kv.split('=')[0], kv.split('=').slice(1).join('=')]));
  return Object.fromEntries(Object.entries(e as Obj).map(([k, v]) => [k, String(v ?? '')]));
}

export async function checkCompose(doc: Obj, image: Image, file = composeFile): Promise<string[]> {
  const problems: string[] = [];
  const services = (doc.services ?? {}) as Obj;
  const procs = processesOf(services, file, problems);
  checkImage(services, file, problems);
  const coordinators = procs.filter((p) => p.argv[0] === 'coordinator');
  const towers = procs.filter((p) => p.argv[0] === 'tower');
  for (const p of procs) if (!coordinators.includes(p) && !towers.includes(p)) problems.push(`${p.where}: runs "${p.argv[0]}", neither coordinator nor tower`);
  if (coordinators.length !== 1) {
    problems.push(`${rel(file)}: ${coordinators.length} coordinator services; there must be one`);
    return problems;
  }
  const c = coordinators[0]!;
  const { co, port, count } = await checkCoordinator(problems, c, towers, image);

  // The towers: as many as the config has, indices 0..N-1, each on its own GPU.
  if (count !== undefined && towers.length !== count) problems.push(`${rel(file)}: ${towers.length} tower services, but ${co?.config} has ${count} towers (net.groups)`);
  const indices: number[] = [];
  const devices = new Map<string, string>();
  for (const t of towers) {
    const index = await checkTower(problems, t, { name: c.name, port, listen: co?.listen }, image, devices);
    if (index !== undefined) indices.push(index);
  }
  const want = Array.from({ length: count ?? towers.length }, (_, i) => i);
  if (JSON.stringify([...indices].sort((a, b) => a - b)) !== JSON.stringify(want))
    problems.push(`${rel(file)}: tower indices are [${indices.join(', ')}]; the towers must be ${want.join(', ')}, each once`);
  return problems;
}

interface Proc {
  name: string;
  where: string;
  svc: Obj;
  argv: string[];
}

/** Every service with its command line; one without a command list is a problem. */
function processesOf(services: Obj, file: string, problems: string[]): Proc[] {
  const procs: Proc[] = [];
  for (const [name, svc] of Object.entries(services)) {
    const where = `${rel(file)} services.${name}`;
    if (svc.entrypoint !== undefined) problems.push(`${where}: sets entrypoint; give the whole command line in command`);
    if (!Array.isArray(svc.command)) {
      problems.push(`${where}: command must be a list (coordinator|tower, then the flags), not ${JSON.stringify(svc.command)}`);
      continue;
    }
    procs.push({ name, where, svc, argv: svc.command.map(String) });
  }
  return procs;
}

/** One image, built from deploy/Dockerfile with the repository as context. */
function checkImage(services: Obj, file: string, problems: string[]): void {
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
}

/** The coordinator service: its command line, paths, restarts, and the port it listens on. */
async function checkCoordinator(problems: string[], c: Proc, towers: Proc[], image: Image): Promise<{ co: Parsed['opts'] | undefined; port?: number; count?: number }> {
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
  return { co, ...(port !== undefined ? { port } : {}), ...(count !== undefined ? { count } : {}) };
}

/** A tower service: its --connect, paths, backend and the one GPU it reserves; its index when it parses. */
async function checkTower(
  problems: string[],
  t: Proc,
  coordinator: { name: string; port: number | undefined; listen: unknown },
  image: Image,
  devices: Map<string, string>,
): Promise<number | undefined> {
  const { port } = coordinator;
  const to = (await parseOr(problems, t.where, t.argv, composeEnv(t.svc)))?.opts;
  if (!to) return undefined;
  const at = listenPort(problems, t.where, '--connect', to.connect);
  if (at && at.host !== coordinator.name) problems.push(`${t.where}: --connect ${to.connect} names host "${at.host}", not the coordinator service "${coordinator.name}"`);
  if (at && port !== undefined && at.port !== port)
    problems.push(`${t.where}: --connect ${to.connect} has port ${at.port}, but the coordinator listens on ${port} (${coordinator.listen})`);
  checkPaths(problems, t.where, to, String(t.svc.working_dir ?? image.workdir), composeMounts(t.svc));
  checkCudaCache(problems, t.where, composeEnv(t.svc), image, composeMounts(t.svc));
  if (to.backend === 'wasm' || to.backend === 'cpu') problems.push(`${t.where}: --backend ${to.backend} would leave its GPU unused`);
  const gpus = ((t.svc.deploy?.resources?.reservations?.devices ?? []) as Obj[]).filter((d) => (d.capabilities ?? []).flat().includes('gpu'));
  if (gpus.length !== 1 || gpus[0]!.driver !== 'nvidia' || !Array.isArray(gpus[0]!.device_ids)) {
    problems.push(`${t.where}: reserves no GPU by id (deploy.resources.reservations.devices: [{ driver: nvidia, device_ids: ['N'], capabilities: [gpu] }])`);
    return Number(to.index);
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
  return Number(to.index);
}
