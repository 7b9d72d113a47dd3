import { mkdtempSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jitter, randomMatrix, rowOf } from './fixtures.test-util.js';
import { OnnxSimilarityKernel } from './onnx-similarity-kernel.js';
import { semDeDupPool, type EmbeddingRow } from './semdedup-pool.js';
import type { ClusterDedupResult } from './semdedup.js';

let kernel: OnnxSimilarityKernel;
let dir: string;
beforeAll(async () => {
  kernel = await OnnxSimilarityKernel.open({ threads: 1 });
  dir = mkdtempSync(join(tmpdir(), 'semdedup-pool-'));
});
afterAll(async () => {
  await kernel.close();
  rmSync(dir, { recursive: true, force: true });
});

/** 300 random 64-d embeddings and a near copy (cos > 0.99) of 25 of them. */
function pool(): EmbeddingRow[] {
  const base = randomMatrix(300, 64, 9);
  const rows: EmbeddingRow[] = [];
  for (let i = 0; i < 300; i++) {
    rows.push({ id: `img-${i}`, vector: rowOf(base, i) });
    if (i % 12 === 0) rows.push({ id: `img-${i}-dup`, vector: jitter(rowOf(base, i), 0.02, i) });
  }
  return rows;
}

async function* stream(rows: EmbeddingRow[]): AsyncIterable<EmbeddingRow> {
  yield* rows;
}

describe('semDeDupPool', () => {
  it('finds exactly the planted duplicates through sample, k-means, spill and per-cluster passes', async () => {
    const rows = pool();
    const results: Array<[number, ClusterDedupResult]> = [];
    const phases = new Set<string>();
    const spillDir = join(dir, 'run-1');
    const summary = await semDeDupPool(
      () => stream(rows),
      { clusters: 6, eps: 0.01, seed: 3, sampleSize: 200, batchRows: 50, partitionBytes: 4096, spillDir },
      kernel,
      { onCluster: (c, r) => void results.push([c, r]), onProgress: (phase) => void phases.add(phase) },
    );
    expect(summary.rows).toBe(325);
    expect(summary.removed).toBe(25);
    expect(summary.kept).toBe(300);
    expect([...summary.clusterSizes].reduce((a, b) => a + b, 0)).toBe(325);
    const removed = results.flatMap(([, r]) => r.removed);
    // one of each planted pair goes (which one is the keep order's choice), with its partner named
    for (const r of removed) {
      const base = r.id.replace('-dup', '');
      expect([r.id, r.matchedId].sort()).toEqual([base, `${base}-dup`].sort());
      expect(r.similarity).toBeGreaterThan(0.99);
    }
    expect(new Set(removed.map((r) => r.id.replace('-dup', ''))).size).toBe(25);
    expect([...phases].sort()).toEqual(['assign', 'dedup', 'sample', 'train']);
    expect(existsSync(spillDir)).toBe(false);
  });

  it('is deterministic, and warns about a cluster over the memory budget', async () => {
    const rows = pool();
    const run = async (warnings: string[]): Promise<string[]> => {
      const removed: string[] = [];
      await semDeDupPool(
        () => stream(rows),
        { clusters: 2, eps: 0.01, seed: 1, spillDir: join(dir, 'run-2'), maxClusterBytes: 16 * 1024 },
        kernel,
        { onCluster: (_c, r) => void removed.push(...r.removed.map((x) => x.id)), onWarning: (w) => void warnings.push(w) },
      );
      return removed;
    };
    const warnings: string[] = [];
    const first = await run(warnings);
    expect(await run([])).toEqual(first);
    expect(warnings.length).toBeGreaterThan(0);
    expect(warnings[0]).toMatch(/cluster \d+ holds \d+ embeddings .* over maxClusterBytes 0 MiB.*raise clusters/);
  });

  it('refuses an empty pool, too few embeddings, mixed dimensions and missing scores', async () => {
    const spillDir = join(dir, 'bad');
    await expect(semDeDupPool(() => stream([]), { clusters: 2, eps: 0.05, spillDir }, kernel)).rejects.toThrow(/the pool has no embeddings/);
    const two = pool().slice(0, 2);
    await expect(semDeDupPool(() => stream(two), { clusters: 3, eps: 0.05, spillDir }, kernel)).rejects.toThrow(/3 clusters need at least 3 embeddings; the pool has 2/);
    const mixed = [...two, { id: 'short', vector: new Float32Array(3) }];
    await expect(semDeDupPool(() => stream(mixed), { clusters: 1, eps: 0.05, spillDir }, kernel)).rejects.toThrow(/short has 3 dimensions, the first had 64/);
    await expect(semDeDupPool(() => stream(two), { clusters: 1, eps: 0.05, order: 'highest-score', spillDir }, kernel)).rejects.toThrow(/needs a score for every embedding/);
    await expect(semDeDupPool(() => stream(two), { clusters: 1, eps: -1, spillDir }, kernel)).rejects.toThrow(/eps must be in \(0, 1\)/);
  });
});
