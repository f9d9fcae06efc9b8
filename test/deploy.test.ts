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
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { composeFile, deployDir, dockerfile, k8sDir, type Obj, readYaml, rel } from './deploy/common.js';
import { checkCompose } from './deploy/compose.js';
import { checkDockerfile, type Image } from './deploy/dockerfile.js';
import { checkK8s, type K8sDoc, podOf } from './deploy/k8s.js';
import { root } from './helpers.js';

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
