/**
 * Small seeded pseudo-random number generators, so generated models are byte-for-byte
 * reproducible.
 */

/** A generator of uniformly distributed numbers in `[0, 1)`. */
export type Random = () => number;

/**
 * mulberry32: a fast 32-bit PRNG with a 2^32 period; plenty for initialising weights.
 *
 * @param seed - any integer; only its low 32 bits are used.
 */
export function mulberry32(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Fills a new `Float32Array` with values drawn uniformly from `[-limit, limit)`.
 *
 * @param random - the generator to draw from (advanced `length` times).
 */
export function uniformFloat32(random: Random, length: number, limit: number): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = (random() * 2 - 1) * limit;
  return out;
}
