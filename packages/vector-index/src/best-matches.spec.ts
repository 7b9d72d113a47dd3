// bestMatches (native/vector_index.cc, "Best match per row") against a float64 brute force for every kernel
// this CPU runs: sizes that are not multiples of the tiles, B larger than one packed chunk, several thread
// counts, ties, normalisation and rows that cannot be normalised.
import { describe, expect, it } from 'vitest';
import { bestMatches } from './best-matches.js';
import { clusteredVectors } from './fixtures.test-util.js';
import { exactKernels } from './native-binding.js';

const kernels = exactKernels();

describe('bestMatches', () => {
  it('finds the best row of B for every row of A, for every kernel and thread count', async () => {
    const d = 130; // B = 1,100 x 130 floats: more than one 1 MiB chunk of packed panels
    const all = clusteredVectors(1100 + 311, d, { clusters: 25, spread: 0.4, seed: 5 });
    const b = all.slice(0, 1100 * d);
    const a = all.slice(1100 * d);
    const unitB = new Float32Array(b.length);
    for (let r = 0; r < 1100; r++) {
      let q = 0;
      for (let t = 0; t < d; t++) q += b[r * d + t]! ** 2;
      for (let t = 0; t < d; t++) unitB[r * d + t] = b[r * d + t]! / Math.sqrt(q);
    }
    const want = Array.from({ length: 311 }, (_, i) => {
      let q = 0;
      for (let t = 0; t < d; t++) q += a[i * d + t]! ** 2;
      const scores = Array.from({ length: 1100 }, (_, j) => {
        let s = 0;
        for (let t = 0; t < d; t++) s += a[i * d + t]! * unitB[j * d + t]!;
        return s / Math.sqrt(q);
      });
      const best = scores.reduce((m, s, j) => (s > scores[m]! ? j : m), 0);
      return { best, score: scores[best]!, scores };
    });
    let first: Int32Array | undefined;
    for (const exactKernel of kernels)
      for (const threads of [1, 2, 3]) {
        const got = await bestMatches(a, unitB, d, { normalizeA: true, threads, exactKernel });
        const wrong = want.filter((w, i) => !(Math.abs(got.score[i]! - w.score) < 2e-6 && Math.abs(w.scores[got.index[i]!]! - w.score) < 2e-6));
        expect(wrong, `${exactKernel}, ${threads} threads`).toEqual([]);
        if (first === undefined) first = got.index;
        else if (exactKernel === kernels[0]) expect([...got.index]).toEqual([...first]);
      }
  });

  it('keeps the lowest index on ties, scores raw dot products without normalising, NaN for rows it cannot normalise', async () => {
    const b = Float32Array.from([0, 1, 1, 0, 1, 0, 0.6, 0.8]); // rows 1 and 2 are the same
    const a = Float32Array.from([3, 0, 0, 0, 0, 2, Number.NaN, 1]);
    for (const exactKernel of kernels) {
      const raw = await bestMatches(a, b, 2, { exactKernel });
      expect([...raw.index.subarray(0, 3)]).toEqual([1, 0, 0]);
      expect([...raw.score.subarray(0, 3)].map((s) => Number(s.toFixed(5)))).toEqual([3, 0, 2]);
      const unit = await bestMatches(a, b, 2, { normalizeA: true, exactKernel });
      expect([...unit.index]).toEqual([1, 0, 0, 0]);
      expect(unit.score[0]).toBeCloseTo(1, 6);
      expect(unit.score[2]).toBeCloseTo(1, 6);
      expect(Number.isNaN(unit.score[1])).toBe(true);
      expect(Number.isNaN(unit.score[3])).toBe(true);
    }
  });

  it('refuses malformed input', async () => {
    await expect(bestMatches(new Float32Array(6), new Float32Array(4), 4)).rejects.toThrow(/6 and 4 floats are not rows of 4/);
    await expect(bestMatches(new Float32Array(4), new Float32Array(0), 4)).rejects.toThrow(/b has no rows/);
    await expect(bestMatches(new Float32Array(4), new Float32Array(4), 4, { threads: 0 })).rejects.toThrow(/threads must be a positive integer/);
  });
});
