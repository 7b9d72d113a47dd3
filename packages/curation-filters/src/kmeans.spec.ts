import { describe, expect, it } from 'vitest';
import { jitter, randomMatrix } from './fixtures.test-util.js';
import { trainKMeans } from './kmeans.js';
import { JsSimilarityKernel } from './similarity-kernel.js';
import type { Matrix } from './vectors.js';

const kernel = new JsSimilarityKernel();

/** 3 x 20 points around three orthogonal directions of R^8, interleaved. */
function threeGroups(): { sample: Matrix; group: number[] } {
  const dim = 8;
  const rows = 60;
  const data = new Float32Array(rows * dim);
  const group: number[] = [];
  for (let i = 0; i < rows; i++) {
    const g = i % 3;
    const axis = new Float32Array(dim);
    axis[g] = 1;
    data.set(jitter(axis, 0.15, i + 1), i * dim);
    group.push(g);
  }
  return { sample: { data, rows, dim }, group };
}

describe('trainKMeans', () => {
  it('recovers three well-separated groups exactly, and assigns a stream the same way', async () => {
    const { sample, group } = threeGroups();
    const { model, iterations } = await trainKMeans(sample, { k: 3, seed: 7 }, kernel);
    expect(iterations).toBeGreaterThanOrEqual(1);
    const { cluster, similarity } = await model.assign(sample, kernel);
    // the same group always lands in the same cluster, different groups in different clusters
    const clusterOfGroup = [0, 1, 2].map((g) => cluster[group.indexOf(g)]!);
    expect(new Set(clusterOfGroup).size).toBe(3);
    group.forEach((g, i) => expect(cluster[i]).toBe(clusterOfGroup[g]));
    for (const s of similarity) expect(s).toBeGreaterThan(0.9);
    // centroids are unit vectors near the axes
    for (let c = 0; c < 3; c++) {
      const row = model.centroids.data.subarray(c * 8, c * 8 + 8);
      expect(Math.hypot(...row)).toBeCloseTo(1, 5);
      expect(Math.max(...row)).toBeGreaterThan(0.98);
    }
    // streaming: assigning in batches of 7 gives the same clusters
    for (let start = 0; start < sample.rows; start += 7) {
      const end = Math.min(sample.rows, start + 7);
      const part = await model.assign({ data: sample.data.slice(start * 8, end * 8), rows: end - start, dim: 8 }, kernel);
      expect([...part.cluster]).toEqual([...cluster.slice(start, end)]);
    }
  });

  it('is deterministic for a seed', async () => {
    const sample = randomMatrix(200, 6, 3);
    const a = await trainKMeans(sample, { k: 5, seed: 11, iterations: 5 }, kernel);
    const b = await trainKMeans(sample, { k: 5, seed: 11, iterations: 5 }, kernel);
    expect([...a.model.centroids.data]).toEqual([...b.model.centroids.data]);
    const c = await trainKMeans(sample, { k: 5, seed: 12, iterations: 5 }, kernel);
    expect([...c.model.centroids.data]).not.toEqual([...a.model.centroids.data]);
  });

  it('skips rows with the bounds and still ends exactly where plain Lloyd ends', async () => {
    // 12 groups of 50 noisy points in R^16: the later iterations move few rows, so the bounds skip most
    const rows = 600;
    const dim = 16;
    const centres = randomMatrix(12, dim, 21);
    const data = new Float32Array(rows * dim);
    for (let i = 0; i < rows; i++) data.set(jitter(centres.data.subarray((i % 12) * dim, (i % 12 + 1) * dim), 0.6, 100 + i), i * dim);
    const sample: Matrix = { data, rows, dim };
    const plain = await trainKMeans(sample, { k: 12, seed: 3, iterations: 30, bounds: false }, kernel);
    const bounded = await trainKMeans(sample, { k: 12, seed: 3, iterations: 30 }, kernel);
    expect(plain.skippedRows).toBe(0);
    expect(bounded.skippedRows).toBeGreaterThan(rows);
    expect(bounded.iterations).toBe(plain.iterations);
    expect([...(await bounded.model.assign(sample, kernel)).cluster]).toEqual([...(await plain.model.assign(sample, kernel)).cluster]);
    bounded.model.centroids.data.forEach((v, i) => expect(v).toBeCloseTo(plain.model.centroids.data[i]!, 6));
    expect(bounded.meanSimilarity).toBeCloseTo(plain.meanSimilarity, 6);
  });

  it('re-seeds empty clusters instead of returning dead centroids', async () => {
    // 6 copies of two points: k = 4 can only be filled by re-seeding
    const sample: Matrix = { data: Float32Array.from([1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1]), rows: 6, dim: 2 };
    const run = await trainKMeans(sample, { k: 4, seed: 0, iterations: 3 }, kernel);
    expect(run.model.k).toBe(4);
    expect(run.reseeded).toBeGreaterThan(0);
  });

  it('refuses bad parameters up front', async () => {
    const sample = randomMatrix(4, 3, 1);
    await expect(trainKMeans(sample, { k: 5 }, kernel)).rejects.toThrow(/5 clusters need at least 5 sample embeddings \(got 4\)/);
    await expect(trainKMeans(sample, { k: 0 }, kernel)).rejects.toThrow(/k must be a positive integer/);
    await expect(trainKMeans(sample, { k: 2, iterations: 0 }, kernel)).rejects.toThrow(/iterations must be 1..1000/);
    const { model } = await trainKMeans(sample, { k: 2 }, kernel);
    await expect(model.assign(randomMatrix(2, 4, 1), kernel)).rejects.toThrow(/4-dimensional embeddings cannot be assigned to 3-dimensional centroids/);
    const zero: Matrix = { data: new Float32Array(3), rows: 1, dim: 3 };
    await expect(model.assign(zero, kernel)).rejects.toThrow(/embedding 0 is all zeros/);
  });
});
