/**
 * Is a tower really on a GPU, which one, and if not, why. libtensorflow (under tfjs-node-gpu) falls back
 * to the CPU without a word when it finds no usable device; tfjs-node's binding only says whether it did
 * (`isUsingGpuDevice`, set from TFE_ContextListDevices in tfjs-node/binding/tfjs_backend.cc). The reasons
 * are looked for here, in the order a user would check them, from what the machine shows: the
 * environment, the NVIDIA driver, nvidia-smi and the CUDA libraries libtensorflow 2.9.1 loads.
 *
 * Everything the checks read comes through a `GpuProbe`, so tests can stand in for machines we do not have.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

export interface GpuProbe {
  env: Record<string, string | undefined>;
  exists(path: string): boolean;
  /** A command's standard output, or undefined when it is missing or fails. */
  run(cmd: string, args: string[]): string | undefined;
  /** File names in a directory ([] when it cannot be read). */
  list(dir: string): string[];
}

export const machineProbe: GpuProbe = {
  env: process.env,
  exists: existsSync,
  run: (cmd, args) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
    } catch {
      return undefined;
    }
  },
  list: (dir) => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  },
};

/**
 * The shared libraries libtensorflow 2.9.1 (CUDA 11.2, cuDNN 8.1) opens for the GPU, by the sonames its
 * dso_loader asks for ("Could not load dynamic library 'libcudart.so.11.0'" when one is missing).
 */
export const CUDA_LIBRARIES = [
  'libcudart.so.11.0',
  'libcublas.so.11',
  'libcublasLt.so.11',
  'libcufft.so.10',
  'libcurand.so.10',
  'libcusolver.so.11',
  'libcusparse.so.11',
  'libcudnn.so.8',
];

/**
 * Compute capabilities libtensorflow 2.9.1's CUDA build carries machine code for: TensorFlow's CUDA 11.2
 * release builds list sm_35, sm_50, sm_60, sm_70, sm_75 and compute_80 (PTX only) in their
 * tensorflow/python/platform/build_info.py. GPUs past 7.5, the A100 among them, run kernels CUDA compiles
 * from that PTX on first use.
 */
const OLDEST_CAPABILITY = 3.5;
const NEWEST_PREBUILT = 7.5;

export interface NvidiaGpu {
  index: number;
  name: string;
  uuid: string;
  /** Compute capability, when the driver's nvidia-smi reports it (drivers from 510 on). */
  capability?: number;
  memoryMiB?: number;
}

/** GPUs as nvidia-smi lists them (undefined: no nvidia-smi, or it failed). */
export function listGpus(probe: GpuProbe): NvidiaGpu[] | undefined {
  const full = probe.run('nvidia-smi', ['--query-gpu=index,name,uuid,compute_cap,memory.total', '--format=csv,noheader,nounits']);
  // Drivers before 510 have no compute_cap field and reject the whole query.
  const out = full ?? probe.run('nvidia-smi', ['--query-gpu=index,name,uuid,memory.total', '--format=csv,noheader,nounits']);
  if (out === undefined) return undefined;
  const withCap = full !== undefined;
  return out
    .split('\n')
    .map((l) => l.split(',').map((f) => f.trim()))
    .filter((f) => f.length >= 4 && /^\d+$/.test(f[0]!))
    .map((f) => {
      const capability = withCap ? Number(f[3]) : Number.NaN;
      const memoryMiB = Number(f[withCap ? 4 : 3]);
      return { index: Number(f[0]), name: f[1]!, uuid: f[2]!, ...(Number.isFinite(capability) ? { capability } : {}), ...(Number.isFinite(memoryMiB) ? { memoryMiB } : {}) };
    });
}

/** The GPUs CUDA_VISIBLE_DEVICES lets a process see (all of them when it is unset). */
export function visibleGpus(gpus: NvidiaGpu[], visible: string | undefined): { gpus: NvidiaGpu[]; unknown: string[] } {
  if (visible === undefined) return { gpus, unknown: [] };
  const ids = visible.split(',').map((s) => s.trim());
  const out: NvidiaGpu[] = [];
  const unknown: string[] = [];
  // CUDA stops at the first id it cannot resolve: the ones after it are invisible too.
  for (const id of ids) {
    const g = /^\d+$/.test(id) ? gpus.find((x) => x.index === Number(id)) : gpus.find((x) => x.uuid === id || (id.length > 4 && x.uuid.startsWith(id)));
    if (!g) {
      unknown.push(id);
      break;
    }
    out.push(g);
  }
  return { gpus: out, unknown };
}

/** Directories the dynamic loader searches: LD_LIBRARY_PATH, then the ldconfig cache's. */
function libraryPresence(probe: GpuProbe): (lib: string) => boolean {
  const dirs = (probe.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  // `ldconfig -p` lines: "\tlibcudart.so.11.0 (libc6,x86-64) => /usr/local/cuda/lib64/libcudart.so.11.0"
  const cached = new Set((probe.run('ldconfig', ['-p']) ?? probe.run('/sbin/ldconfig', ['-p']) ?? '').split('\n').map((l) => l.trim().split(' ')[0]!));
  const listed = dirs.map((d) => new Set(probe.list(d)));
  return (lib) => cached.has(lib) || listed.some((names) => names.has(lib));
}

const describe = (g: NvidiaGpu): string =>
  `GPU ${g.index}: ${g.name}${g.capability !== undefined ? `, compute ${g.capability.toFixed(1)}` : ''}${g.memoryMiB !== undefined ? `, ${(g.memoryMiB / 1024).toFixed(0)} GiB` : ''}`;

/** Which GPU a process with this environment runs on, for its join line; and a warning where one applies. */
export function gpuInUse(probe: GpuProbe = machineProbe): { device: string; warning?: string } {
  const gpus = listGpus(probe);
  if (!gpus || gpus.length === 0) return { device: 'a GPU (nvidia-smi did not say which)' };
  const { gpus: seen } = visibleGpus(gpus, probe.env.CUDA_VISIBLE_DEVICES);
  const g = seen[0];
  if (!g) return { device: 'a GPU (nvidia-smi did not say which)' };
  const device = seen.length > 1 ? `${describe(g)} (one of ${seen.length} visible: CUDA_VISIBLE_DEVICES does not pin one)` : describe(g);
  if (g.capability !== undefined && g.capability > NEWEST_PREBUILT) {
    return {
      device,
      warning: `${g.name} (compute ${g.capability.toFixed(1)}) is newer than libtensorflow 2.9's machine code (up to ${NEWEST_PREBUILT.toFixed(1)}): CUDA compiles its kernels from PTX on first use, which can take many minutes; keep CUDA_CACHE_PATH on a persistent disk (and CUDA_CACHE_MAXSIZE large) so it happens once`,
    };
  }
  return { device };
}

/**
 * Why libtensorflow found no usable GPU for a process with this environment: the first problem found,
 * in the order a user would check. Always a sentence; the last resort points at TensorFlow's own log.
 */
export function whyNoGpu(probe: GpuProbe = machineProbe): string {
  const visible = probe.env.CUDA_VISIBLE_DEVICES;
  if (visible !== undefined && (visible.trim() === '' || visible.trim() === '-1' || visible.trim() === 'NoDevFiles')) {
    return `CUDA_VISIBLE_DEVICES=${JSON.stringify(visible)} hides every GPU`;
  }
  if (!probe.exists('/proc/driver/nvidia/version')) {
    return 'no NVIDIA driver is loaded (/proc/driver/nvidia/version is missing); in a container, the GPU must be passed in (docker run --gpus, or a nvidia.com/gpu limit in Kubernetes)';
  }
  const gpus = listGpus(probe);
  if (gpus === undefined)
    return 'the NVIDIA driver is loaded but nvidia-smi is missing or fails, so the GPUs cannot be listed: check the driver installation (nvidia-smi should list the GPUs)';
  if (gpus.length === 0) return 'nvidia-smi lists no GPUs';
  const { gpus: seen, unknown } = visibleGpus(gpus, visible);
  if (seen.length === 0) {
    return `CUDA_VISIBLE_DEVICES=${visible} names no GPU of this host (${unknown.join(', ')} is unknown); its GPUs are ${gpus.map((g) => g.index).join(', ')}: give --gpus ids from that list`;
  }
  const has = libraryPresence(probe);
  const missing = CUDA_LIBRARIES.filter((lib) => !has(lib));
  if (missing.length > 0) {
    return `libtensorflow 2.9 needs CUDA 11.x and cuDNN 8 and could not find ${missing.join(', ')} (searched LD_LIBRARY_PATH and the ldconfig cache): install CUDA 11.2 and cuDNN 8.1, or use the image in deploy/`;
  }
  const old = seen.find((g) => g.capability !== undefined && g.capability < OLDEST_CAPABILITY);
  if (old) return `${old.name} has compute capability ${old.capability!.toFixed(1)}; libtensorflow 2.9 needs ${OLDEST_CAPABILITY} or newer`;
  return `libtensorflow found no usable GPU although the driver, ${describe(seen[0]!)} and the CUDA libraries are there: TensorFlow's own reason is in this tower's stderr (TF_CPP_MIN_LOG_LEVEL=0 shows all of it)`;
}
