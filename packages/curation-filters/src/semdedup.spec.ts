import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { angles, jitter, randomMatrix, rowOf } from './fixtures.test-util.js';
import { OnnxSimilarityKernel } from './onnx-similarity-kernel.js';
import { dedupCluster, type ClusterMembers } from './semdedup.js';
import { JsSimilarityKernel, type SimilarityKernel } from './similarity-kernel.js';

const js = new JsSimilarityKernel();
let onnx: OnnxSimilarityKernel; // whole clusters through scanSet (@select/vector-index's native scan)
let onnxGraphs: OnnxSimilarityKernel; // block by block through the ONNX graphs
beforeAll(async () => {
  onnx = await OnnxSimilarityKernel.open({ threads: 2 });
  onnxGraphs = await OnnxSimilarityKernel.open({ threads: 1, nativeSetScan: false });
});
afterAll(async () => {
  await onnx.close();
  await onnxGraphs.close();
});

// A at 0°, B at 10°, C at 20°, D at 90°: cos 10° = 0.9848 > 0.98 = 1 - eps; cos 20° = 0.9397 is not.
// Duplicate pairs: A-B and B-C. Given in the order A, C, B, D.
const chain = (): ClusterMembers => ({ ids: ['A', 'C', 'B', 'D'], vectors: angles(0, 20, 10, 90) });

describe('dedupCluster', () => {
  it('one-per-group keeps the first member of the chain A~B~C and reports the pairs', async () => {
    for (const kernel of [js, onnx, onnxGraphs]) {
      const result = await dedupCluster(chain(), { eps: 0.02, order: 'input' }, kernel);
      expect(result.kept).toEqual(['A', 'D']);
      expect(result.duplicatePairs).toBe(2);
      const byId = Object.fromEntries(result.removed.map((r) => [r.id, r]));
      expect(byId['C']).toMatchObject({ matchedId: 'B', keptId: 'A' });
      expect(byId['C']!.similarity).toBeCloseTo(Math.cos((10 * Math.PI) / 180), 5);
      // B matches A and C equally: the earlier in keep order (A, at position 0) is named
      expect(byId['B']).toMatchObject({ matchedId: 'A', keptId: 'A' });
    }
  });

  it("SemDeDup's code rule drops only members whose best earlier match is above 1 - eps (not transitive)", async () => {
    for (const kernel of [js, onnx, onnxGraphs]) {
      // order A, C, B: C's best earlier match is A (0.94) -> kept; B's is A or C (0.985) -> dropped
      const result = await dedupCluster(chain(), { eps: 0.02, order: 'input', rule: 'semdedup' }, kernel);
      expect(result.kept).toEqual(['A', 'C', 'D']);
      expect(result.removed).toHaveLength(1);
      expect(result.removed[0]).toMatchObject({ id: 'B', matchedId: 'A' });
    }
  });

  it('keeps the member nearest the centroid, the farthest, or the highest score, as asked', async () => {
    const members: ClusterMembers = {
      ...chain(),
      centroidSimilarity: Float32Array.from([0.5, 0.9, 0.7, 0.1]), // A, C, B, D
      scores: Float32Array.from([0.2, 0.1, 0.3, 0.0]),
    };
    expect((await dedupCluster(members, { eps: 0.02 }, js)).kept).toEqual(['C', 'D']);
    expect((await dedupCluster(members, { eps: 0.02, order: 'farthest-centroid' }, js)).kept).toEqual(['D', 'A']);
    expect((await dedupCluster(members, { eps: 0.02, order: 'highest-score' }, js)).kept).toEqual(['B', 'D']);
  });

  it('gives the same result block by block as in one block, with either kernel', async () => {
    // 40 random 32-d vectors and a near copy of every fourth one
    const base = randomMatrix(40, 32, 5);
    const ids: string[] = [];
    const rows: Float32Array[] = [];
    for (let i = 0; i < 40; i++) {
      ids.push(`p${String(i).padStart(2, '0')}`);
      rows.push(rowOf(base, i));
      if (i % 4 === 0) {
        ids.push(`p${String(i).padStart(2, '0')}-copy`);
        rows.push(jitter(rowOf(base, i), 0.05, i));
      }
    }
    const data = new Float32Array(rows.length * 32);
    rows.forEach((r, i) => data.set(r, i * 32));
    const members: ClusterMembers = { ids, vectors: { data, rows: rows.length, dim: 32 } };
    const whole = await dedupCluster(members, { eps: 0.05, order: 'input' }, js);
    expect(whole.removed.map((r) => r.id).sort()).toEqual(ids.filter((id) => id.endsWith('-copy')).sort());
    for (const rule of ['one-per-group', 'semdedup'] as const) {
      const reference = await dedupCluster(members, { eps: 0.05, order: 'input', rule }, js);
      for (const kernel of [js, onnx, onnxGraphs] as SimilarityKernel[]) {
        expect(kernel.scanSet === undefined).toBe(kernel !== onnx);
        const blocked = await dedupCluster(members, { eps: 0.05, order: 'input', rule, blockRows: 3 }, kernel);
        expect(blocked.kept).toEqual(reference.kept);
        expect(blocked.removed.map((r) => [r.id, r.matchedId])).toEqual(reference.removed.map((r) => [r.id, r.matchedId]));
      }
    }
  });

  it('finds the same duplicates in a 700-member cluster whole (native scan, two threads) as block by block (graphs, plain loops)', async () => {
    // 500 random 48-d rows, 150 near copies (some copies of copies: chains), 50 exact repeats
    const dim = 48;
    const base = randomMatrix(500, dim, 11);
    const rows: Float32Array[] = [];
    for (let i = 0; i < 500; i++) rows.push(rowOf(base, i));
    for (let c = 0; c < 150; c++) rows.push(jitter(rows[(c * 7) % rows.length]!, 0.08, 100 + c));
    for (let r = 0; r < 50; r++) rows.push(rows[(r * 13) % 600]!.slice());
    const ids = rows.map((_, i) => `m${String(i).padStart(3, '0')}`);
    const data = new Float32Array(rows.length * dim);
    rows.forEach((r, i) => data.set(r, i * dim));
    const centroidSimilarity = Float32Array.from(rows, (_, i) => ((i * 37) % 101) / 101); // a shuffled keep order
    const members: ClusterMembers = { ids, vectors: { data, rows: rows.length, dim }, centroidSimilarity };
    for (const rule of ['one-per-group', 'semdedup'] as const) {
      const reference = await dedupCluster(members, { eps: 0.05, rule, blockRows: 256 }, js);
      expect(reference.removed.length).toBeGreaterThan(150);
      for (const kernel of [onnx, onnxGraphs]) {
        const got = await dedupCluster(members, { eps: 0.05, rule, blockRows: 256 }, kernel);
        expect(got.kept, `${rule} ${kernel.scanSet ? 'scan' : 'graphs'}`).toEqual(reference.kept);
        expect(got.removed.map((r) => [r.id, r.matchedId, r.keptId])).toEqual(reference.removed.map((r) => [r.id, r.matchedId, r.keptId]));
        got.removed.forEach((r, i) => expect(r.similarity).toBeCloseTo(reference.removed[i]!.similarity, 5));
        expect(got.duplicatePairs).toBe(reference.duplicatePairs);
      }
    }
  });

  it('refuses eps out of range, unknown rules and missing order data', async () => {
    await expect(dedupCluster(chain(), { eps: 0 }, js)).rejects.toThrow(/eps must be in \(0, 1\), got 0/);
    await expect(dedupCluster(chain(), { eps: 1.5 }, js)).rejects.toThrow(/eps must be in \(0, 1\)/);
    await expect(dedupCluster(chain(), { eps: 0.1, rule: 'all' as never }, js)).rejects.toThrow(/rule must be one of one-per-group, semdedup/);
    await expect(dedupCluster(chain(), { eps: 0.1 }, js)).rejects.toThrow(/order nearest-centroid needs centroidSimilarity/);
    const zero = { ids: ['a', 'b'], vectors: { data: Float32Array.from([1, 0, 0, 0]), rows: 2, dim: 2 } };
    for (const kernel of [js, onnx]) await expect(dedupCluster(zero, { eps: 0.1, order: 'input' }, kernel)).rejects.toThrow(/embedding 1 is all zeros/);
    const nan = { ids: ['a', 'b', 'c'], vectors: { data: Float32Array.from([1, 0, 0, 1, Number.NaN, 1]), rows: 3, dim: 2 } };
    for (const kernel of [js, onnx]) await expect(dedupCluster(nan, { eps: 0.1, order: 'input' }, kernel)).rejects.toThrow(/embedding 2 contains NaN or infinite values/);
  });
});
