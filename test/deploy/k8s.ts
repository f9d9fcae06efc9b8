/** deploy/k8s/*.yaml checked against the real CLIs, the image and each other. */
import { COMPLETION_INDEX, checkCudaCache, checkPaths, KEYS_SECRET, k8sDir, listenPort, type Mount, type Obj, parseOr, rel, towerCount } from './common.js';
import type { Image } from './dockerfile.js';

// ─── Kubernetes ──────────────────────────────────────────────────────────────────────────────────────────

export interface K8sDoc {
  file: string;
  doc: Obj;
}

export interface Container {
  where: string;
  owner: K8sDoc;
  pod: Obj;
  container: Obj;
  argv: string[];
}

/** The pod template of a workload, if it is one. */
export function podOf(doc: Obj): { spec: Obj; labels: Obj } | undefined {
  if (doc.kind === 'Pod') return { spec: doc.spec ?? {}, labels: doc.metadata?.labels ?? {} };
  if (['Job', 'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet'].includes(doc.kind))
    return { spec: doc.spec?.template?.spec ?? {}, labels: doc.spec?.template?.metadata?.labels ?? {} };
  if (doc.kind === 'CronJob') return { spec: doc.spec?.jobTemplate?.spec?.template?.spec ?? {}, labels: doc.spec?.jobTemplate?.spec?.template?.metadata?.labels ?? {} };
  return undefined;
}

export const selects = (selector: Obj | undefined, labels: Obj): boolean =>
  !!selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

/** `$(VAR)` in command and args, as the kubelet expands it from the container's env; `$$` is a literal `$`. */
export function expand(problems: string[], where: string, s: string, env: Record<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name?: string) => {
    if (m === '$$') return '$';
    if (name! in env) return env[name!]!;
    problems.push(`${where}: ${m} in the command line is not an env var of the container with a value this test can know; the kubelet would pass it literally`);
    return m;
  });
}

/** The container's env as the test can know it: literal values, and the completion index when simulated. */
export function containerEnv(container: Obj, index?: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of (container.env ?? []) as Obj[]) {
    if (e.value !== undefined) env[e.name] = String(e.value);
    else if (index !== undefined && COMPLETION_INDEX.test(String(e.valueFrom?.fieldRef?.fieldPath ?? ''))) env[e.name] = String(index);
  }
  return env;
}

export function k8sMounts(pod: Obj, container: Obj): Mount[] {
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

/** The keys Secret's files must be readable by the container's user: mode bits, uid and fsGroup. */
export function checkKeysReadable(problems: string[], where: string, pod: Obj, container: Obj, image: Image): void {
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

export async function checkK8s(docs: K8sDoc[], image: Image): Promise<string[]> {
  const problems: string[] = [];
  const containers = containersOf(docs, problems);
  const coordinators = containers.filter((c) => c.argv[0] === 'coordinator');
  const towers = containers.filter((c) => c.argv[0] === 'tower');
  for (const c of containers) if (!coordinators.includes(c) && !towers.includes(c)) problems.push(`${c.where}: runs "${c.argv[0]}", neither coordinator nor tower`);
  if (coordinators.length === 0) problems.push(`${rel(k8sDir)}: no coordinator container`);
  if (towers.length === 0) problems.push(`${rel(k8sDir)}: no tower container`);
  const images = new Set([...coordinators, ...towers].map((c) => c.container.image));
  if (images.size > 1) problems.push(`${rel(k8sDir)}: coordinator and towers run different images (${[...images].join(', ')})`);
  const run: K8sRun = { problems, image, services: docs.filter((d) => d.doc.kind === 'Service'), coordinators, towers };

  // The coordinators (the Job): --listen port = containerPort = Service port.
  const ports = new Set<number>();
  const counts = new Set<number>();
  let maxRestarts = Number.POSITIVE_INFINITY;
  for (const c of coordinators) {
    const got = await checkCoordinator(run, c);
    if (got.count !== undefined) counts.add(got.count);
    if (got.maxRestarts !== undefined) maxRestarts = Math.min(maxRestarts, got.maxRestarts);
    if (got.port !== undefined) ports.add(got.port);
  }
  if (ports.size > 1) problems.push(`${rel(k8sDir)}: the coordinators listen on different ports (${[...ports].join(', ')})`);
  if (counts.size > 1) problems.push(`${rel(k8sDir)}: the coordinators wait for different tower counts (${[...counts].join(', ')})`);
  const [port] = ports;
  const [count] = counts;

  // The towers: an Indexed Job of `count` pods at once, each with one GPU, on separate nodes.
  for (const t of towers) await checkTowers(run, t, { port, count, maxRestarts });
  return problems;
}

/** What every part of the Kubernetes check reads. */
interface K8sRun {
  problems: string[];
  image: Image;
  services: K8sDoc[];
  coordinators: Container[];
  towers: Container[];
}

/** Every container of every pod template, with its command line; one without a command is a problem. */
function containersOf(docs: K8sDoc[], problems: string[]): Container[] {
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
  return containers;
}

/** One coordinator container: its command line, paths, keys, restarts and the port it listens on. */
async function checkCoordinator(run: K8sRun, c: Container): Promise<{ count?: number; maxRestarts?: number; port?: number }> {
  const { problems, image } = run;
  const got: { count?: number; maxRestarts?: number; port?: number } = {};
  const cwd = String(c.container.workingDir ?? image.workdir);
  const o = (
    await parseOr(
      problems,
      c.where,
      c.argv.map((a) => expand(problems, c.where, a, containerEnv(c.container))),
    )
  )?.opts;
  if (!o) return got;
  const count = towerCount(problems, c.where, o, cwd, image);
  if (count !== undefined) got.count = count;
  got.maxRestarts = Number(o.maxRestarts ?? 0);
  checkPaths(problems, c.where, o, cwd, k8sMounts(c.pod, c.container));
  checkKeysReadable(problems, c.where, c.pod, c.container, image);
  const again = c.pod.restartPolicy === 'OnFailure' || Number(c.owner.doc.spec?.backoffLimit ?? 6) > 0;
  if (again && !o.continue)
    problems.push(
      `${c.where}: the coordinator is restarted (restartPolicy ${c.pod.restartPolicy}, backoffLimit ${c.owner.doc.spec?.backoffLimit ?? 6}) but without --continue it would start the run over`,
    );
  if (o.listen === undefined) {
    problems.push(`${c.where}: no --listen: the coordinator would spawn its own towers instead of waiting for the tower pods`);
    return got;
  }
  const port = listenPort(problems, c.where, '--listen', o.listen)?.port;
  if (port === undefined) return got;
  got.port = port;
  const declared = ((c.container.ports ?? []) as Obj[]).find((p) => p.containerPort === port);
  if (!declared)
    problems.push(`${c.where}: --listen ${o.listen}, but no containerPort ${port} (ports: ${JSON.stringify((c.container.ports ?? []).map((p: Obj) => p.containerPort))})`);
  checkServices(run, c, port, String(o.listen));
  return got;
}

/** The Services that select a coordinator pod: headless, its port, and not the towers too. */
function checkServices(run: K8sRun, c: Container, port: number, listen: string): void {
  const { problems, services } = run;
  const towerLabels = run.towers.map((t) => podOf(t.owner.doc)!.labels);
  const labels = podOf(c.owner.doc)!.labels;
  const mine = services.filter((s) => selects(s.doc.spec?.selector, labels));
  if (mine.length === 0) problems.push(`${c.where}: no Service selects this pod (labels ${JSON.stringify(labels)}): towers could not find it`);
  for (const s of mine) {
    const sw = `${rel(s.file)} Service/${s.doc.metadata?.name}`;
    if (s.doc.spec?.clusterIP !== 'None') problems.push(`${sw}: not headless (clusterIP: None)`);
    const sp: Obj | undefined = ((s.doc.spec?.ports ?? []) as Obj[]).find((p) => p.port === port);
    if (!sp) {
      problems.push(`${sw}: no port ${port}, where the coordinator listens (${listen}); it has ${JSON.stringify((s.doc.spec?.ports ?? []).map((p: Obj) => p.port))}`);
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

/** The towers' Job and each pod it would start. */
async function checkTowers(run: K8sRun, t: Container, coordinator: { port: number | undefined; count: number | undefined; maxRestarts: number }): Promise<void> {
  const { problems, image } = run;
  const { count, maxRestarts } = coordinator;
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
  for (let i = 0; i < n; i++) if (!(await checkTowerPod(run, t, indexed ? i : undefined, coordinator.port))) break;
}

/** Pod `index` of the towers' Job (undefined: not an Indexed Job): its command line as the kubelet would run it. */
async function checkTowerPod(run: K8sRun, t: Container, index: number | undefined, port: number | undefined): Promise<boolean> {
  const { problems, image, services, coordinators } = run;
  const indexed = index !== undefined;
  const i = index ?? 0;
  const env: Record<string, string> = { ...containerEnv(t.container, indexed ? i : undefined), ...(indexed ? { JOB_COMPLETION_INDEX: String(i) } : {}) };
  const where = indexed ? `${t.where} (index ${i})` : t.where;
  const argv = t.argv.map((a) => expand(problems, where, a, env));
  const o = (await parseOr(problems, where, argv, 'TOWER_INDEX' in env ? { TOWER_INDEX: env.TOWER_INDEX! } : {}))?.opts;
  if (!o) return false;
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
  return true;
}
