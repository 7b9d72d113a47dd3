// The self-similarity scan (native/vector_index.cc, "Self-similarity scan") against a float64 brute force,
// for every kernel this CPU runs: set sizes that are not multiples of the tiles (and large enough for
// several column units and both threads), a permuted order, normalisation, exact ties, pairs above a
// threshold, and refusal of bad input.
import { describe, expect, it } from 'vitest';
import { clusteredVectors } from './fixtures.test-util.js';
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
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) if (score(i, j) > threshold + 1e-5) wantPairs.push([i, j]);
    expect(wantPairs.length).toBeGreaterThan(100);
    let first: Awaited<ReturnType<typeof selfSimilarity>> | undefined;
    for (const exactKernel of kernels) {
      for (const threads of [1, 2, 3]) {
        const got = await selfSimilarity(vectors, d, { order, normalize: true, threshold, threads, exactKernel });
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
      const normalized = await selfSimilarity(vectors, 3, { order, normalize: true, threshold: 0.5, exactKernel });
      expect([...normalized.best]).toEqual([-Infinity, 0, 1, 1]);
      expect([...normalized.bestAt]).toEqual([-1, 0, 0, 0]);
      expect([...normalized.pairs]).toEqual([0, 2, 0, 3, 2, 3]);
    }
  });

  it('refuses zero and non-finite rows when normalising, and malformed input', async () => {
    const vectors = Float32Array.from([1, 0, 0, 0, Number.NaN, 1]);
    await expect(selfSimilarity(vectors, 2, { normalize: true })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/row 1 is all zeros/) });
    await expect(selfSimilarity(vectors, 2, { normalize: true, order: Int32Array.of(0, 2) })).rejects.toThrow(/row 2 contains NaN or infinite values/);
    await expect(selfSimilarity(vectors, 4)).rejects.toThrow(/6 floats are not rows of 4/);
    await expect(selfSimilarity(vectors, 2, { order: Int32Array.of(0, 3) })).rejects.toThrow(/order names row 3, outside the 3 rows/);
    await expect(selfSimilarity(vectors, 2, { threshold: Number.NaN })).rejects.toThrow(/threshold must be a finite number/);
  });
});
