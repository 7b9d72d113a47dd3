/**
 * Counter-based Gaussian noise: Philox4x32-10 (Salmon et al. 2011, "Parallel Random Numbers: As Easy as
 * 1, 2, 3") keyed by the 64-bit seed, with the Box–Muller transform. Element i of stream s is a pure
 * function of (seed, s, i), so the same request gives the same noise in any process on any machine, and
 * a stream never depends on how many numbers another stream consumed.
 *
 * Streams used by the pipelines: 0 — the initial latents (or the image-to-image noise); 1 + k — the
 * fresh noise of denoising step k (Euler ancestral, DDIM with eta > 0); POSTERIOR_NOISE_STREAM
 * (2^32 − 1) — the image-to-image sample of the VAE posterior.
 *
 * Not torch's generator: a seed gives different images here than in diffusers. Bit-identity rests on
 * Math.log/cos/sin, which V8 computes with its own fdlibm port rather than the platform libm.
 */
const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two uint32. */
function mulhi(a: number, b: number): number {
  const aLo = a & 0xffff;
  const aHi = a >>> 16;
  const bLo = b & 0xffff;
  const bHi = b >>> 16;
  const lolo = aLo * bLo;
  const lohi = aLo * bHi;
  const hilo = aHi * bLo;
  const cross = (lolo >>> 16) + (lohi & 0xffff) + (hilo & 0xffff);
  return (aHi * bHi + (lohi >>> 16) + (hilo >>> 16) + (cross >>> 16)) >>> 0;
}

/** One Philox4x32-10 block: 4 uint32 outputs for the counter (c0..c3) under key (k0, k1). */
export function philox4x32(counter: readonly [number, number, number, number], key: readonly [number, number]): Uint32Array {
  let [c0, c1, c2, c3] = counter;
  let [k0, k1] = key;
  for (let round = 0; round < 10; round++) {
    const hi0 = mulhi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  return Uint32Array.of(c0, c1, c2, c3);
}

const TWO_POW_32 = 4294967296;

/** Stream of the image-to-image VAE posterior sample: the last one, far from the step streams 1 + k. */
export const POSTERIOR_NOISE_STREAM = 0xffffffff;

/** Splits a signed 64-bit seed into the Philox key. */
function seedKey(seed: bigint): [number, number] {
  const u = BigInt.asUintN(64, seed);
  return [Number(u & 0xffffffffn), Number(u >> 32n)];
}

/** `count` standard-normal float32 values of stream `stream` under `seed`. */
export function gaussianNoise(seed: bigint, stream: number, count: number): Float32Array {
  const key = seedKey(seed);
  const out = new Float32Array(count);
  for (let block = 0; block * 4 < count; block++) {
    const [a, b, c, d] = philox4x32([block >>> 0, Math.floor(block / TWO_POW_32) >>> 0, stream >>> 0, 0], key) as unknown as [number, number, number, number];
    // (x + 1) / 2^32 lies in (0, 1]: log never sees 0.
    const pairs: [number, number][] = [
      [a, b],
      [c, d],
    ];
    pairs.forEach(([u, v], p) => {
      const r = Math.sqrt(-2 * Math.log((u + 1) / TWO_POW_32));
      const theta = (2 * Math.PI * v) / TWO_POW_32;
      const i = block * 4 + p * 2;
      if (i < count) out[i] = r * Math.cos(theta);
      if (i + 1 < count) out[i + 1] = r * Math.sin(theta);
    });
  }
  return out;
}
