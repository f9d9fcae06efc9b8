/**
 * Counter-based random numbers: the value at (seed, stream, index) does not depend on who asks or in which
 * order. That is what makes 1, 2 and 4 towers start from the same full weights and drop the same units:
 * each tower generates only its slice, by global index.
 */

/** A 32-bit integer mixer (lowbias32, C. Wellons): good avalanche, a few multiplies. */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Uniform on [0, 1) at (seed, stream, index); index may be any safe integer. */
export function uniformAt(seed: number, stream: number, index: number): number {
  const lo = index >>> 0;
  const hi = Math.floor(index / 4294967296) >>> 0;
  let h = mix32((seed >>> 0) ^ 0x9e3779b9);
  h = mix32(h ^ Math.imul(stream + 1, 0x85ebca6b));
  h = mix32(h ^ hi);
  h = mix32(h ^ lo);
  return h / 4294967296;
}

/** Standard normal at (seed, stream, index), by Box–Muller over two uniforms. */
export function normalAt(seed: number, stream: number, index: number): number {
  const u1 = 1 - uniformAt(seed, stream, 2 * index); // (0, 1]
  const u2 = uniformAt(seed, stream, 2 * index + 1);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** A small sequential generator (mulberry32) for data order, where a stream is all that is needed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates shuffle of 0..n-1 with a seeded stream. */
export function permutation(n: number, seed: number): Uint32Array {
  const rand = mulberry32(seed);
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}
