import { describe, expect, it } from 'vitest';
import { VectorIndexError } from './errors.js';
import { addSpecDefaults, type IndexSpecInput, type Metric } from './index-spec.js';
import { clusteredVectors, referenceScore, referenceTopK, row } from './fixtures.test-util.js';
import { SEARCH_LIMITS, VectorIndex, type AddItem } from './vector-index.js';

async function build(spec: IndexSpecInput, vectors: Float32Array, metadata?: (i: number) => Record<string, string>) {
  const index = new VectorIndex(addSpecDefaults(spec), { threads: 2 });
  const d = spec.dimension;
  const items: AddItem[] = [];
  for (let i = 0; i < vectors.length / d; i++) {
    items.push({ id: `v${i}`, vector: row(vectors, i, d), ...(metadata ? { metadata: metadata(i) } : {}) });
  }
  const { batch, problems } = index.prepareAdd(items);
  expect(problems).toEqual([]);
  await index.apply(batch);
  return { index, ids: items.map((item) => item.id) };
}

function recallAt(found: readonly { id: string }[][], truth: readonly { id: string }[][]): number {
  let hits = 0;
  let total = 0;
  found.forEach((f, q) => {
    const want = new Set(truth[q]!.map((t) => t.id));
    hits += f.filter((n) => want.has(n.id)).length;
    total += want.size;
  });
  return hits / total;
}

describe('VectorIndex search', () => {
  const d = 32;
  const all = clusteredVectors(3020, d, { seed: 7 });
  const stored = all.subarray(0, 3000 * d);
  const queries = all.subarray(3000 * d);

  it.each<Metric>(['cosine', 'inner-product', 'l2'])('exact search returns the brute-force top-k (%s)', async (metric) => {
    const { index, ids } = await build({ dimension: d, metric }, stored);
    const results = await index.search(queries, { k: 10, exact: true });
    expect(results).toHaveLength(20);
    results.forEach((result, q) => {
      const truth = referenceTopK(metric, stored, ids, row(queries, q, d), 10);
      expect(result.neighbors.map((n) => n.id)).toEqual(truth.map((t) => t.id));
      result.neighbors.forEach((n, i) => expect(n.score).toBeCloseTo(truth[i]!.score, metric === 'l2' ? 2 : 4));
    });
  });

  it('approximate search finds nearly all true neighbours on clustered data', async () => {
    // Queries come from the same clusters as the stored vectors (the last 100 rows), as in real retrieval.
    const all = clusteredVectors(20_100, d, { seed: 11, clusters: 50 });
    const big = all.subarray(0, 20_000 * d);
    const many = all.subarray(20_000 * d);
    const { index, ids } = await build({ dimension: d }, big);
    const found = await index.search(many, { k: 10, efSearch: 64 });
    const truth = Array.from({ length: 100 }, (_, q) => referenceTopK('cosine', big, ids, row(many, q, d), 10));
    expect(recallAt(found.map((r) => r.neighbors), truth)).toBeGreaterThan(0.95);
  });

  it('honours allow, deny and metadata filters and still returns k results under a selective filter', async () => {
    const { index, ids } = await build({ dimension: d }, stored, (i) => ({ wnid: `n${i % 100}`, source: i % 2 ? 'odd' : 'even' }));
    const q = row(queries, 0, d);

    const byClass = await index.search(q, { k: 10, filter: { metadataEquals: { wnid: 'n7' } } });
    expect(byClass[0]!.neighbors).toHaveLength(10);
    for (const n of byClass[0]!.neighbors) expect(n.metadata).toEqual(expect.objectContaining({ wnid: 'n7' }));
    const classIds = ids.filter((_, i) => i % 100 === 7);
    const classTruth = referenceTopK('cosine', stored, ids, q, 3000).filter((t) => classIds.includes(t.id)).slice(0, 10);
    expect(byClass[0]!.neighbors.map((n) => n.id)).toEqual(classTruth.map((t) => t.id));

    const allow = ['v1', 'v2', 'v3', 'v999', 'no-such-id'];
    const allowed = await index.search(q, { k: 10, filter: { allowIds: allow } });
    expect(allowed[0]!.neighbors.map((n) => n.id).sort()).toEqual(['v1', 'v2', 'v3', 'v999']);

    const top = await index.search(q, { k: 5, exact: true });
    const denied = await index.search(q, { k: 5, exact: true, filter: { denyIds: top[0]!.neighbors.map((n) => n.id) } });
    expect(denied[0]!.neighbors.some((n) => top[0]!.neighbors.some((t) => t.id === n.id))).toBe(false);

    // Every field must match: the 30 vectors of class n7 are all odd rows.
    const both = await index.search(q, { k: 50, filter: { metadataEquals: { wnid: 'n7', source: 'odd' } } });
    expect(both[0]!.neighbors).toHaveLength(30);
    const none = await index.search(q, { k: 50, filter: { metadataEquals: { wnid: 'n7', source: 'even' } } });
    expect(none[0]!.neighbors).toEqual([]);
  });

  it('range search returns every neighbour above the threshold, best first', async () => {
    const { index, ids } = await build({ dimension: d }, stored);
    const q = row(queries, 3, d);
    const scores = ids.map((id, i) => ({ id, score: referenceScore('cosine', row(stored, i, d), q) }));
    const threshold = scores.map((s) => s.score).sort((a, b) => b - a)[40]!;
    const expected = scores.filter((s) => s.score >= threshold + 1e-5).map((s) => s.id);
    const [result] = await index.rangeSearch(q, { minScore: threshold + 1e-5, exact: true, maxResults: 1000 });
    expect(result!.neighbors.map((n) => n.id).sort()).toEqual(expected.sort());
    expect(result!.truncated).toBe(false);
    const scoresFound = result!.neighbors.map((n) => n.score);
    expect(scoresFound).toEqual([...scoresFound].sort((a, b) => b - a));

    const [capped] = await index.rangeSearch(q, { minScore: -1, exact: true, maxResults: 5 });
    expect(capped!.neighbors).toHaveLength(5);
    expect(capped!.truncated).toBe(true);
  });

  it('gives the same answers in flat arrays (searchFlat, rangeSearchFlat), removed ids left out', async () => {
    const { index } = await build({ dimension: d }, stored);
    await index.remove(['v0', 'v1', 'v2']);
    const asFlat = (rows: Awaited<ReturnType<VectorIndex['search']>>) => ({
      ids: rows.flatMap((r) => r.neighbors.map((n) => n.id)),
      scores: Float32Array.from(rows.flatMap((r) => r.neighbors.map((n) => n.score))),
      offsets: Uint32Array.from([0, ...rows.map((_, q) => rows.slice(0, q + 1).reduce((n, r) => n + r.neighbors.length, 0))]),
      truncated: Uint8Array.from(rows, (r) => Number(r.truncated)),
    });
    for (const exact of [false, true]) {
      const flat = await index.searchFlat(queries, { k: 10, exact, filter: { denyIds: ['v3'] } });
      expect(flat).toEqual(asFlat(await index.search(queries, { k: 10, exact, filter: { denyIds: ['v3'] } })));
      expect(flat.ids).not.toContain('v0');
    }
    const range = { minScore: 0.5, exact: true, maxResults: 7 };
    expect(await index.rangeSearchFlat(queries, range)).toEqual(asFlat(await index.rangeSearch(queries, range)));
  });
});

describe('VectorIndex updates and bad input', () => {
  const d = 8;
  const spec = addSpecDefaults({ dimension: d });

  it('replaces a known id (upsert) and never returns removed ids', async () => {
    const index = new VectorIndex(spec);
    const a = new Float32Array(d).fill(0);
    a[0] = 1;
    const b = new Float32Array(d).fill(0);
    b[1] = 1;
    let prepared = index.prepareAdd([
      { id: 'x', vector: a },
      { id: 'y', vector: b },
    ]);
    expect(await index.apply(prepared.batch)).toEqual({ added: 2, replaced: 0 });
    prepared = index.prepareAdd([{ id: 'x', vector: b, metadata: { source: 'second' } }]);
    expect(await index.apply(prepared.batch)).toEqual({ added: 0, replaced: 1 });
    expect(index.size).toBe(2);
    const [hits] = await index.search(b, { k: 2, exact: true });
    expect(hits!.neighbors.map((n) => [n.id, Math.round(n.score)]).sort()).toEqual([
      ['x', 1],
      ['y', 1],
    ]);
    expect(hits!.neighbors.find((n) => n.id === 'x')!.metadata).toEqual({ source: 'second' });

    expect(await index.remove(['y', 'unknown'])).toBe(1);
    const [after] = await index.search(b, { k: 5 });
    expect(after!.neighbors.map((n) => n.id)).toEqual(['x']);
  });

  it('reports bad items one by one and keeps the good ones', async () => {
    const index = new VectorIndex(spec);
    const good = new Float32Array(d).fill(1);
    const nan = new Float32Array(d).fill(1);
    nan[3] = Number.NaN;
    const inf = new Float32Array(d).fill(1);
    inf[0] = Number.POSITIVE_INFINITY;
    const { batch, problems } = index.prepareAdd([
      { id: 'ok', vector: good },
      { id: 'short', vector: new Float32Array(d - 1).fill(1) },
      { id: 'nan', vector: nan },
      { id: 'inf', vector: inf },
      { id: '', vector: good },
      { id: 'zero', vector: new Float32Array(d) },
    ]);
    expect(batch.ids).toEqual(['ok']);
    expect(problems.map((p) => [p.id, p.message])).toEqual([
      ['short', 'vector has 7 components; the index has dimension 8'],
      ['nan', 'vector component 3 is NaN; NaN and Inf are not allowed'],
      ['inf', 'vector component 0 is Infinity; NaN and Inf are not allowed'],
      ['', 'id must not be empty'],
      ['zero', 'a zero vector has no cosine similarity'],
    ]);
  });

  it('rejects bad searches with INVALID_ARGUMENT', async () => {
    const index = new VectorIndex(spec);
    const { batch } = index.prepareAdd([{ id: 'a', vector: new Float32Array(d).fill(1) }]);
    await index.apply(batch);
    const q = new Float32Array(d).fill(1);
    const bad = [
      index.search(q, { k: 0 }),
      index.search(q, { k: SEARCH_LIMITS.maxK + 1 }),
      index.search(q, { k: 1.5 }),
      index.search(new Float32Array(0), { k: 1 }),
      index.search(new Float32Array(d + 1), { k: 1 }),
      index.search(new Float32Array(d).fill(Number.NaN), { k: 1 }),
      index.rangeSearch(q, { minScore: Number.NaN }),
      index.rangeSearch(q, { minScore: 0, maxResults: SEARCH_LIMITS.maxRangeResults + 1 }),
    ];
    for (const call of bad) {
      await expect(call).rejects.toSatisfy((e: unknown) => e instanceof VectorIndexError && e.code === 'INVALID_ARGUMENT');
    }
    // The index is untouched by all of that.
    expect((await index.search(q, { k: 1 }))[0]!.neighbors.map((n) => n.id)).toEqual(['a']);
  });

  it.each(['f16', 'i8'] as const)('searches a %s-quantised index', async (quantization) => {
    const dim = 32;
    const all = clusteredVectors(4030, dim, { seed: 3 });
    const stored = all.subarray(0, 4000 * dim);
    const queries = all.subarray(4000 * dim);
    const index = new VectorIndex(addSpecDefaults({ dimension: dim, quantization }));
    const ids = Array.from({ length: 4000 }, (_, i) => `v${i}`);
    await index.apply(index.prepareAdd(ids.map((id, i) => ({ id, vector: row(stored, i, dim) }))).batch);
    const truth = Array.from({ length: 30 }, (_, q) => referenceTopK('cosine', stored, ids, row(queries, q, dim), 10));
    const approx = await index.search(queries, { k: 10 });
    const exact = await index.search(queries, { k: 10, exact: true });
    // i8 keeps ~7 bits per component: at 32 dimensions that reorders close neighbours now and then.
    const [approxFloor, exactFloor] = quantization === 'f16' ? [0.9, 0.99] : [0.75, 0.8];
    expect(recallAt(approx.map((r) => r.neighbors), truth)).toBeGreaterThan(approxFloor);
    expect(recallAt(exact.map((r) => r.neighbors), truth)).toBeGreaterThan(exactFloor);
    expect(exact[0]!.neighbors[0]!.score).toBeCloseTo(truth[0]![0]!.score, 1);
  });
});
