/**
 * Why a tower given a GPU is on the CPU, on machines we do not have: each is a probe that answers as such
 * a machine would (nvidia-smi's CSV, `ldconfig -p`'s lines, the files the driver leaves).
 */
import { describe, expect, it } from 'vitest';
import { CUDA_LIBRARIES, type GpuProbe, gpuInUse, listGpus, visibleGpus, whyNoGpu } from './gpu.js';

const A100 = '0, NVIDIA A100-SXM4-40GB, GPU-5a1c2d3e-0000-1111-2222-333344445555, 8.0, 40960';
const T4 = '0, Tesla T4, GPU-1b2c3d4e-0000-1111-2222-333344445555, 7.5, 15360';
const H100 = '1, NVIDIA H100 80GB HBM3, GPU-9f8e7d6c-0000-1111-2222-333344445555, 9.0, 81559';

interface Machine {
  env?: Record<string, string>;
  driver?: boolean;
  /** nvidia-smi's answer to the full query; undefined: no nvidia-smi. */
  smi?: string;
  /** Drivers before 510 reject the compute_cap field. */
  oldDriver?: boolean;
  ldconfig?: string[];
  dirs?: Record<string, string[]>;
}

const ldLine = (lib: string) => `\t${lib} (libc6,x86-64) => /usr/local/cuda/lib64/${lib}`;
const allLibs = CUDA_LIBRARIES.map(ldLine);

function probe(m: Machine): GpuProbe {
  return {
    env: m.env ?? {},
    exists: (p) => p === '/proc/driver/nvidia/version' && m.driver !== false,
    run: (cmd, args) => {
      if (cmd === 'nvidia-smi') {
        if (m.smi === undefined) return undefined;
        if (m.oldDriver && args[0]!.includes('compute_cap')) return undefined;
        return m.oldDriver
          ? m.smi
              .split('\n')
              .map((l) =>
                l
                  .split(', ')
                  .filter((_, i) => i !== 3)
                  .join(', '),
              )
              .join('\n')
          : m.smi;
      }
      if (cmd === 'ldconfig') return `${(m.ldconfig ?? []).length} libs found in cache \`/etc/ld.so.cache'\n${(m.ldconfig ?? []).join('\n')}\n`;
      return undefined;
    },
    list: (dir) => m.dirs?.[dir] ?? [],
  };
}

describe('whyNoGpu', () => {
  it('names CUDA_VISIBLE_DEVICES when it hides every GPU', () => {
    expect(whyNoGpu(probe({ env: { CUDA_VISIBLE_DEVICES: '-1' }, smi: A100 }))).toBe('CUDA_VISIBLE_DEVICES="-1" hides every GPU');
    expect(whyNoGpu(probe({ env: { CUDA_VISIBLE_DEVICES: '' }, smi: A100 }))).toMatch(/hides every GPU/);
  });
  it('names a missing driver, and what to do in a container', () => {
    expect(whyNoGpu(probe({ driver: false }))).toMatch(/^no NVIDIA driver is loaded \(\/proc\/driver\/nvidia\/version is missing\).*docker run --gpus/);
  });
  it('names a missing nvidia-smi and a host without GPUs', () => {
    expect(whyNoGpu(probe({}))).toMatch(/nvidia-smi is missing or fails/);
    expect(whyNoGpu(probe({ smi: '' }))).toBe('nvidia-smi lists no GPUs');
  });
  it('names a device id the host does not have, with the ids it has', () => {
    expect(whyNoGpu(probe({ env: { CUDA_VISIBLE_DEVICES: '3' }, smi: `${A100}\n${H100}`, ldconfig: allLibs }))).toBe(
      'CUDA_VISIBLE_DEVICES=3 names no GPU of this host (3 is unknown); its GPUs are 0, 1: give --gpus ids from that list',
    );
  });
  it('names the CUDA libraries that libtensorflow 2.9 cannot find', () => {
    const libs = allLibs.filter((l) => !l.includes('libcudnn') && !l.includes('libcufft'));
    expect(whyNoGpu(probe({ env: { CUDA_VISIBLE_DEVICES: '0' }, smi: A100, ldconfig: libs }))).toMatch(
      /could not find libcufft\.so\.10, libcudnn\.so\.8 \(searched LD_LIBRARY_PATH/,
    );
    // libcublas.so.11 is not found by being a prefix of libcublasLt.so.11
    expect(whyNoGpu(probe({ smi: A100, ldconfig: allLibs.filter((l) => !l.includes('libcublas.so')) }))).toMatch(/could not find libcublas\.so\.11 \(/);
    // found on LD_LIBRARY_PATH instead of the cache
    const dirs = { '/opt/cudnn/lib': ['libcudnn.so.8', 'libcudnn.so.8.1.0'] };
    expect(whyNoGpu(probe({ env: { LD_LIBRARY_PATH: '/opt/cudnn/lib' }, smi: A100, ldconfig: allLibs.filter((l) => !l.includes('libcudnn')), dirs }))).toMatch(
      /^libtensorflow found no usable GPU/,
    );
  });
  it('names a GPU older than libtensorflow 2.9 supports', () => {
    const k10 = '0, Tesla K10.G1.8GB, GPU-aaaa, 3.0, 3583';
    expect(whyNoGpu(probe({ smi: k10, ldconfig: allLibs }))).toBe('Tesla K10.G1.8GB has compute capability 3.0; libtensorflow 2.9 needs 3.5 or newer');
  });
  it("otherwise points at TensorFlow's own log", () => {
    expect(whyNoGpu(probe({ env: { CUDA_VISIBLE_DEVICES: '0' }, smi: A100, ldconfig: allLibs }))).toBe(
      "libtensorflow found no usable GPU although the driver, GPU 0: NVIDIA A100-SXM4-40GB, compute 8.0, 40 GiB and the CUDA libraries are there: TensorFlow's own reason is in this tower's stderr (TF_CPP_MIN_LOG_LEVEL=0 shows all of it)",
    );
  });
});

describe('the GPU a tower is on', () => {
  it('is the one CUDA_VISIBLE_DEVICES pins, by index or UUID', () => {
    const smi = `${A100}\n${H100}`;
    expect(gpuInUse(probe({ env: { CUDA_VISIBLE_DEVICES: '0' }, smi })).device).toBe('GPU 0: NVIDIA A100-SXM4-40GB, compute 8.0, 40 GiB');
    expect(gpuInUse(probe({ env: { CUDA_VISIBLE_DEVICES: 'GPU-9f8e7d6c' }, smi })).device).toMatch(/^GPU 1: NVIDIA H100/);
    expect(gpuInUse(probe({ smi })).device).toMatch(/one of 2 visible: CUDA_VISIBLE_DEVICES does not pin one/);
    expect(gpuInUse(probe({ smi, oldDriver: true, env: { CUDA_VISIBLE_DEVICES: '0' } })).device).toBe('GPU 0: NVIDIA A100-SXM4-40GB, 40 GiB');
  });
  it("warns that a GPU newer than libtensorflow 2.9's machine code (7.5) compiles its kernels on first use", () => {
    const { warning } = gpuInUse(probe({ env: { CUDA_VISIBLE_DEVICES: '1' }, smi: `${A100}\n${H100}` }));
    expect(warning).toMatch(/compiles its kernels from PTX on first use.*CUDA_CACHE_PATH/);
    expect(gpuInUse(probe({ env: { CUDA_VISIBLE_DEVICES: '0' }, smi: A100 })).warning).toMatch(/compute 8\.0\) is newer/); // sm_80 is PTX only
    expect(gpuInUse(probe({ env: { CUDA_VISIBLE_DEVICES: '0' }, smi: T4 })).warning).toBeUndefined();
  });
  it("reads nvidia-smi's CSV, and CUDA stops at the first id it cannot resolve", () => {
    const gpus = listGpus(probe({ smi: `${A100}\n${H100}\n` }))!;
    expect(gpus.map((g) => [g.index, g.capability])).toEqual([
      [0, 8],
      [1, 9],
    ]);
    expect(visibleGpus(gpus, '1,7,0')).toEqual({ gpus: [gpus[1]], unknown: ['7'] });
  });
});
