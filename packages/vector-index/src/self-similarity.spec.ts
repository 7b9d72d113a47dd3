// The self-similarity scan (native/vector_index.cc, "Self-similarity scan") against a float64 brute force,
// for every kernel this CPU runs: set sizes that are not multiples of the tiles (and large enough for
// several column units and both threads), a permuted order, normalisation, exact ties, pairs above a
// threshold, and refusal of bad input.
import { describe, expect, it } from 'vitest';
import { clusteredVectors, gaussian, rng } from './fixtures.test-util.js';
import { exactKernels } from './native-binding.js';
import { selfSimilarity } from './self-similarity.js';

const kernels = exactKernels();

/** float64 scores of positions i, j (rows order[i], order[j]; unit rows when `normalize`), computed once. */
function reference(vectors: Float32Array, d: number, order: Int32Array, normalize: boolean) {
  const n = order.length;
  const unit = new Float64Array(n * d);
  order.forEach((r, p) => {
    let q = 0;
    for (let t = 0; t < d; t++) q += vectors[r * d + t]! ** 2;
    const norm = normalize ? Math.sqrt(q) : 1;
    for (let t = 0; t < d; t++) unit[p * d + t] = vectors[r * d + t]! / norm;
  });
  const s = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let v = 0;
      for (let t = 0; t < d; t++) v += unit[i * d + t]! * unit[j * d + t]!;
      s[i * n + j] = v;
    }
  return (i: number, j: number) => s[i * n + j]!;
}

describe('selfSimilarity', () => {
  it("finds each position's best earlier match and the pairs above a threshold, for every kernel and thread count", async () => {
    const d = 70; // not a multiple of any vector width
    const n = 613; // not a multiple of 12, 32, 6 or 16; several column units per thread
    const vectors = clusteredVectors(n + 50, d, { clusters: 12, spread: 0.25, seed: 3 });
    // a permuted subset: positions name rows out of order
    const order = Int32Array.from({ length: n }, (_, i) => (i * 389 + 17) % (n + 50));
    const score = reference(vectors, d, order, true);
    const threshold = 0.9;
    const wantPairs: [number, number][] = [];
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) if (score(i, j) > threshold) wantPairs.push([i, j]);
    expect(wantPairs.length).toBeGreaterThan(100);
    let first: Awaited<ReturnType<typeof selfSimilarity>> | undefined;
    for (const exactKernel of kernels) {
      for (const threads of [1, 2, 3]) {
        const got = await selfSimilarity(vectors, d, { order, normalize: true, threshold, pairs: true, threads, exactKernel });
        expect(got.best[0]).toBe(-Infinity);
        expect(got.bestAt[0]).toBe(-1);
        const wrong: string[] = [];
        for (let j = 1; j < n; j++) {
          let want = -Infinity;
          for (let i = 0; i < j; i++) want = Math.max(want, score(i, j));
          const at = got.bestAt[j]!;
          // the position named scores what the best does (a swap only between scores equal to float32 precision)
          if (!(Math.abs(got.best[j]! - want) < 2e-6 && at >= 0 && at < j && Math.abs(score(at, j) - want) < 2e-6)) wrong.push(`best of ${j}`);
        }
        const pairs = new Set<string>();
        for (let p = 0; p < got.pairScores.length; p++) {
          const [i, j] = [got.pairs[2 * p]!, got.pairs[2 * p + 1]!];
          const sorted = p === 0 || got.pairs[2 * p - 2]! < i || (got.pairs[2 * p - 2] === i && got.pairs[2 * p - 1]! < j);
          if (!(i < j && got.pairScores[p]! > threshold && Math.abs(got.pairScores[p]! - score(i, j)) < 2e-6 && sorted)) wrong.push(`pair ${i},${j}`);
          pairs.add(`${i},${j}`);
        }
        for (const [i, j] of wantPairs) if (!pairs.has(`${i},${j}`)) wrong.push(`missing pair ${i},${j}`);
        if (pairs.size !== wantPairs.length) wrong.push(`${pairs.size} pairs, want ${wantPairs.length}`);
        expect(wrong, `${exactKernel}, ${threads} threads`).toEqual([]);
        // the same kernel gives the same bits whatever the thread count
        if (threads === 1) first = got;
        else {
          expect([...got.best]).toEqual([...first!.best]);
          expect([...got.bestAt]).toEqual([...first!.bestAt]);
          expect([...got.pairs]).toEqual([...first!.pairs]);
        }
      }
    }
  });

  it('breaks ties towards the earlier position and lists no pairs without a threshold', async () => {
    // rows 0 and 2 are the same vector: position 3 (row 1 scaled) matches positions 0 and 2 equally
    const vectors = Float32Array.from([1, 0, 0, 2, 0, 0, 1, 0, 0, 0, 0, 1]);
    const order = Int32Array.from([0, 3, 2, 1]);
    for (const exactKernel of kernels) {
      const got = await selfSimilarity(vectors, 3, { order, exactKernel });
      expect([...got.best]).toEqual([-Infinity, 0, 1, 2]);
      expect([...got.bestAt]).toEqual([-1, 0, 0, 0]);
      expect(got.pairs).toHaveLength(0);
      const normalized = await selfSimilarity(vectors, 3, { order, normalize: true, threshold: 0.5, pairs: true, exactKernel });
      expect([...normalized.best]).toEqual([-Infinity, 0, 1, 1]);
      expect([...normalized.bestAt]).toEqual([-1, 0, 0, 0]);
      expect([...normalized.pairs]).toEqual([0, 2, 0, 3, 2, 3]);
    }
  });

  it('decides scores within float32 rounding of the threshold exactly (float64), with and without normalising', async () => {
    // 120 pairs (x_k, y_k) of 512-d rows with cosine 0.95 + offset, offsets spread over +-4e-7: about the
    // float32 kernel's own rounding error, so a float32 decision would be a coin flip for many of them
    const d = 512;
    const next = rng(9);
    const pairs = 120;
    const vectors = new Float32Array(2 * pairs * d);
    const scaled = new Float32Array(2 * pairs * d); // the same, every x_k but every third one 3.7 times as long
    for (let k = 0; k < pairs; k++) {
      const x = Array.from({ length: d }, () => gaussian(next));
      const z = Array.from({ length: d }, () => gaussian(next));
      const nx = Math.hypot(...x);
      const xz = x.reduce((s, v, t) => s + (v / nx) * z[t]!, 0);
      const zo = z.map((v, t) => v - xz * (x[t]! / nx)); // z orthogonal to x
      const nz = Math.hypot(...zo);
      const c = 0.95 + ((k % 40) - 19.5) * 2e-8;
      for (let t = 0; t < d; t++) {
        vectors[2 * k * d + t] = x[t]! / nx;
        scaled[2 * k * d + t] = (x[t]! / nx) * (k % 3 === 0 ? 1 : 3.7);
        vectors[(2 * k + 1) * d + t] = scaled[(2 * k + 1) * d + t] = c * (x[t]! / nx) + Math.sqrt(1 - c * c) * (zo[t]! / nz);
      }
    }
    for (const normalize of [true, false]) {
      const rows = normalize ? scaled : vectors;
      const order = Int32Array.from({ length: 2 * pairs }, (_, i) => i);
      const score = reference(rows, d, order, normalize);
      const threshold = 0.95;
      for (const exactKernel of kernels) {
        const got = await selfSimilarity(rows, d, { normalize, threshold, pairs: true, threads: 2, exactKernel });
        const wantAbove = Array.from({ length: pairs }, (_, k) => score(2 * k, 2 * k + 1) > threshold);
        const gotAbove = Array.from({ length: pairs }, (_, k) => got.best[2 * k + 1]! > threshold);
        expect(gotAbove, `${exactKernel}, normalize ${normalize}`).toEqual(wantAbove);
        const listed = new Set<number>();
        for (let p = 0; p < got.pairScores.length; p++) listed.add(got.pairs[2 * p]! / 2);
        expect(Array.from({ length: pairs }, (_, k) => listed.has(k))).toEqual(wantAbove);
        expect(got.pairScores.length).toBe(wantAbove.filter(Boolean).length);
        expect(got.refined).toBeGreaterThan(pairs);
        expect(wantAbove.filter(Boolean).length).toBeGreaterThan(20);
        expect(wantAbove.filter((above) => !above).length).toBeGreaterThan(20);
      }
    }
  });

  it('refuses zero and non-finite rows when normalising, and malformed input', async () => {
    const vectors = Float32Array.from([1, 0, 0, 0, Number.NaN, 1]);
    await expect(selfSimilarity(vectors, 2, { normalize: true })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/row 1 is all zeros/) });
    await expect(selfSimilarity(vectors, 2, { normalize: true, order: Int32Array.of(0, 2) })).rejects.toThrow(/row 2 contains NaN or infinite values/);
    await expect(selfSimilarity(vectors, 4)).rejects.toThrow(/6 floats are not rows of 4/);
    await expect(selfSimilarity(vectors, 2, { order: Int32Array.of(0, 3) })).rejects.toThrow(/order names row 3, outside the 3 rows/);
    await expect(selfSimilarity(vectors, 2, { threshold: Number.NaN })).rejects.toThrow(/threshold must be a finite number/);
    await expect(selfSimilarity(vectors, 2, { pairs: true })).rejects.toThrow(/pairs needs a threshold/);
  });
});
