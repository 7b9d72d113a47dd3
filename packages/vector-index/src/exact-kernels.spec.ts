// The blocked exact search (native/vector_index.cc, "Exact search") against a float64 brute force, for
// every kernel this CPU runs (avx512f 12 x 32 tiles, avx2+fma 6 x 16, generic 6 x 16): sizes that are
// not multiples of the tiles or of the packed chunk, both thread splits (queries, or stored vectors when
// there are few queries), k above the number of vectors, removed vectors, filters, range search, a
// quantised index, and equal scores (ranked by order of addition, whichever kernel or split).
import { describe, expect, it } from 'vitest';
import { addSpecDefaults, type IndexSpecInput, type Metric } from './index-spec.js';
import { clusteredVectors, referenceScore, row } from './fixtures.test-util.js';
import { exactKernels } from './native-binding.js';
import { VectorIndex, type QueryNeighbors } from './vector-index.js';

const kernels = exactKernels();

async function build(spec: IndexSpecInput, vectors: Float32Array, threads = 2) {
  const index = new VectorIndex(addSpecDefaults(spec), { threads });
  const d = spec.dimension;
  const ids = Array.from({ length: vectors.length / d }, (_, i) => `v${i}`);
  const { batch, problems } = index.prepareAdd(ids.map((id, i) => ({ id, vector: row(vectors, i, d) })));
  expect(problems).toEqual([]);
  await index.apply(batch);
  return { index, ids };
}

/** Every live vector's float64 score against each query, best first (equal scores: earlier row first). */
function reference(metric: Metric, stored: Float32Array, live: readonly number[], queries: Float32Array, d: number) {
  return Array.from({ length: queries.length / d }, (_, q) =>
    live
      .map((i) => ({ id: `v${i}`, row: i, score: referenceScore(metric, row(stored, i, d), row(queries, q, d)) }))
      .sort((a, b) => b.score - a.score || a.row - b.row),
  );
}

/**
 * `found` is a correct top-k of `truth`: as many results as it should have, scores equal to the true k best
 * (to float32 rounding), and every id's own true score equal to the true score at its rank (so a swap can
 * only be between scores equal to that precision).
 */
function expectTopK(found: QueryNeighbors[], truth: ReturnType<typeof reference>, k: number, tolerance: number) {
  expect(found).toHaveLength(truth.length);
  found.forEach((result, q) => {
    const want = truth[q]!.slice(0, k);
    expect(result.neighbors).toHaveLength(want.length);
    const byId = new Map(truth[q]!.map((t) => [t.id, t.score]));
    result.neighbors.forEach((n, i) => {
      // Relative to the score above 1: float32 sums of hundreds of terms of size ~1 err by ~1e-5 of the total.
      const allowed = tolerance * Math.max(1, Math.abs(want[i]!.score));
      expect(Math.abs(n.score - want[i]!.score)).toBeLessThanOrEqual(allowed);
      expect(byId.has(n.id)).toBe(true);
      expect(Math.abs(byId.get(n.id)! - want[i]!.score)).toBeLessThanOrEqual(allowed);
    });
  });
}

const idsOf = (results: QueryNeighbors[]) => results.map((r) => r.neighbors.map((n) => n.id));

describe('exact search kernels', () => {
  it('lists the kernels this CPU runs, generic always last', () => {
    expect(kernels.at(-1)).toBe('generic');
    expect(new Set(kernels).size).toBe(kernels.length);
  });

  // d = 300 puts 864 vectors in a packed chunk (1 MiB): 2,000 vectors make two full chunks and a partial
  // one, the last panel 16 of 32 columns (avx512) or none; 101 queries split between the 2 threads and
  // leave 5 (avx512: 12 rows) or 2 (6 rows) rows of the last query panel empty.
  it.each<Metric>(['cosine', 'inner-product', 'l2'])('equals a float64 brute force at odd sizes, every kernel (%s)', async (metric) => {
    const d = 300;
    const all = clusteredVectors(2101, d, { seed: 21 });
    const stored = all.subarray(0, 2000 * d);
    const queries = all.subarray(2000 * d);
    const { index } = await build({ dimension: d, metric }, stored);
    const truth = reference(metric, stored, Array.from({ length: 2000 }, (_, i) => i), queries, d);
    const tolerance = metric === 'cosine' ? 1e-4 : 2e-5;
    const perKernel = [];
    for (const exactKernel of kernels) {
      const many = await index.search(queries, { k: 10, exact: true, exactKernel });
      expectTopK(many, truth, 10, tolerance);
      // 3 queries: the stored vectors are split between the threads instead, and the parts merged.
      const few = await index.search(queries.subarray(0, 3 * d), { k: 25, exact: true, exactKernel });
      expectTopK(few, truth.slice(0, 3), 25, tolerance);
      perKernel.push([...idsOf(many), ...idsOf(few)]);
    }
    // Same neighbours, in the same order, from every kernel.
    for (const ids of perKernel.slice(1)) expect(ids).toEqual(perKernel[0]);
  });

  it('returns every vector when k exceeds them, tiny dimensions and counts, one or two threads', async () => {
    for (const [n, d, nq] of [
      [1, 1, 1],
      [7, 3, 13],
      [33, 17, 5],
      [45, 5, 200],
    ] as const) {
      const all = clusteredVectors(n + nq, d, { seed: n });
      const stored = all.subarray(0, n * d);
      const queries = all.subarray(n * d);
      const truth = reference('inner-product', stored, Array.from({ length: n }, (_, i) => i), queries, d);
      for (const threads of [1, 2]) {
        const { index } = await build({ dimension: d, metric: 'inner-product' }, stored, threads);
        for (const exactKernel of kernels) {
          const found = await index.search(queries, { k: n + 10, exact: true, exactKernel });
          expectTopK(found, truth, n + 10, 1e-4);
          for (const r of found) expect(r.neighbors).toHaveLength(n);
        }
      }
    }
  });

  it('never returns removed or replaced vectors and still returns k live ones', async () => {
    const d = 40;
    const all = clusteredVectors(1500 + 120, d, { seed: 5 });
    const stored = all.slice(0, 1500 * d);
    const queries = all.subarray(1500 * d);
    const { index } = await build({ dimension: d, metric: 'l2' }, stored);
    // A third removed; 50 others replaced by new vectors (upserts leave the old slot free).
    const removed = Array.from({ length: 1500 }, (_, i) => i).filter((i) => i % 3 === 1);
    expect(await index.remove(removed.map((i) => `v${i}`))).toBe(removed.length);
    const replaced = Array.from({ length: 50 }, (_, j) => 3 * j);
    const fresh = clusteredVectors(50, d, { seed: 99 });
    replaced.forEach((i, j) => stored.set(row(fresh, j, d), i * d));
    await index.apply(index.prepareAdd(replaced.map((i, j) => ({ id: `v${i}`, vector: row(fresh, j, d) }))).batch);
    const live = Array.from({ length: 1500 }, (_, i) => i).filter((i) => i % 3 !== 1);
    const truth = reference('l2', stored, live, queries, d);
    for (const exactKernel of kernels) {
      const found = await index.search(queries, { k: 10, exact: true, exactKernel });
      expectTopK(found, truth, 10, 1e-3);
      const gone = new Set(removed.map((i) => `v${i}`));
      for (const r of found) for (const n of r.neighbors) expect(gone.has(n.id)).toBe(false);
    }
  });

  it('ranks equal scores by order of addition, whatever the kernel, thread split or batch', async () => {
    const d = 24;
    const base = clusteredVectors(300, d, { seed: 8 });
    // 40 copies of one vector (ten times as long as the others, so that it is its own best match under
    // every metric) spread over the index (rows 100, 105, ..., 295), among 300 others.
    const copy = row(base, 0, d).map((x) => 10 * x);
    const stored = new Float32Array(340 * d);
    const copyRows: number[] = [];
    for (let i = 0, b = 0; i < 340; i++) {
      if (i >= 100 && copyRows.length < 40 && (i - 100) % 5 === 0) {
        stored.set(copy, i * d);
        copyRows.push(i);
      } else stored.set(row(base, 1 + (b++ % 299), d), i * d);
    }
    const expected = copyRows.slice(0, 10).map((i) => `v${i}`);
    for (const metric of ['cosine', 'inner-product', 'l2'] as const) {
      const { index } = await build({ dimension: d, metric }, stored);
      const query = new Float32Array(copy);
      // One query (stored vectors split between threads) and 120 copies of it (queries split).
      const many = new Float32Array(120 * d);
      for (let q = 0; q < 120; q++) many.set(query, q * d);
      for (const exactKernel of kernels) {
        const [one] = await index.search(query, { k: 10, exact: true, exactKernel });
        expect(one!.neighbors.map((n) => n.id)).toEqual(expected);
        expect(new Set(one!.neighbors.map((n) => n.score)).size).toBe(1);
        for (const r of await index.search(many, { k: 10, exact: true, exactKernel })) {
          expect(r.neighbors.map((n) => n.id)).toEqual(expected);
        }
      }
      // Removed vectors free their graph slots and later adds reuse them: five more copies, added last,
      // now sit in the lowest slots (scanned first) but still rank after every older copy.
      expect(await index.remove(['v0', 'v1', 'v2', 'v3', 'v4'])).toBe(5);
      const late = ['late0', 'late1', 'late2', 'late3', 'late4'];
      await index.apply(index.prepareAdd(late.map((id) => ({ id, vector: copy }))).batch);
      const all = [...copyRows.map((i) => `v${i}`), ...late];
      for (const exactKernel of kernels) {
        const [one] = await index.search(query, { k: 45, exact: true, exactKernel });
        expect(one!.neighbors.map((n) => n.id)).toEqual(all);
        const [top] = await index.search(query, { k: 42, exact: true, exactKernel });
        expect(top!.neighbors.map((n) => n.id)).toEqual(all.slice(0, 42));
        for (const r of await index.search(many, { k: 41, exact: true, exactKernel })) {
          expect(r.neighbors.map((n) => n.id)).toEqual(all.slice(0, 41));
        }
      }
    }
  });

  it('applies filters and range floors inside the kernel scan', async () => {
    const d = 64;
    const all = clusteredVectors(3000 + 60, d, { seed: 13 });
    const stored = all.subarray(0, 3000 * d);
    const queries = all.subarray(3000 * d);
    const { index } = await build({ dimension: d, metric: 'cosine' }, stored);
    const allowed = Array.from({ length: 3000 }, (_, i) => i).filter((i) => i % 5 === 2);
    const truth = reference('cosine', stored, allowed, queries, d);
    const everything = reference('cosine', stored, Array.from({ length: 3000 }, (_, i) => i), queries, d);
    for (const exactKernel of kernels) {
      const filtered = await index.search(queries, {
        k: 10,
        exact: true,
        exactKernel,
        filter: { allowIds: allowed.map((i) => `v${i}`) },
      });
      expectTopK(filtered, truth, 10, 1e-4);
      // Range: everything at or above the 30th best score of query 0 (plus a margin off the float rounding).
      const minScore = everything[0]![29]!.score - 1e-6;
      const [range] = await index.rangeSearch(queries.subarray(0, d), { minScore, exact: true, exactKernel, maxResults: 1000 });
      const want = everything[0]!.filter((t) => t.score >= minScore).map((t) => t.id);
      expect(range!.neighbors.map((n) => n.id)).toEqual(want);
    }
  });

  it('decodes a quantised (f16) index through the same kernels', async () => {
    const d = 48;
    const all = clusteredVectors(2500 + 100, d, { seed: 17 });
    const stored = all.subarray(0, 2500 * d);
    const queries = all.subarray(2500 * d);
    const { index } = await build({ dimension: d, metric: 'cosine', quantization: 'f16' }, stored);
    const truth = reference('cosine', stored, Array.from({ length: 2500 }, (_, i) => i), queries, d);
    const perKernel = [];
    for (const exactKernel of kernels) {
      const found = await index.search(queries, { k: 10, exact: true, exactKernel });
      // f16 keeps ~3 decimal digits: scores within 4e-3 of the float64 truth.
      expectTopK(found, truth, 10, 4e-3);
      perKernel.push(idsOf(found));
    }
    for (const ids of perKernel.slice(1)) expect(ids).toEqual(perKernel[0]);
  });

  it('refuses a kernel this CPU does not run', async () => {
    const { index } = await build({ dimension: 4 }, clusteredVectors(10, 4));
    await expect(index.search(new Float32Array([1, 0, 0, 0]), { k: 1, exact: true, exactKernel: 'sse9' })).rejects.toThrow(
      /exactKernel sse9 is not available on this CPU/,
    );
  });
});
