import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { angles, jitter, randomMatrix, rowOf } from './fixtures.test-util.js';
import { OnnxSimilarityKernel } from './onnx-similarity-kernel.js';
import { dedupCluster, type ClusterMembers } from './semdedup.js';
import { JsSimilarityKernel } from './similarity-kernel.js';

const js = new JsSimilarityKernel();
let onnx: OnnxSimilarityKernel;
beforeAll(async () => {
  onnx = await OnnxSimilarityKernel.open({ threads: 1 });
});
afterAll(async () => onnx.close());

// A at 0°, B at 10°, C at 20°, D at 90°: cos 10° = 0.9848 > 0.98 = 1 - eps; cos 20° = 0.9397 is not.
// Duplicate pairs: A-B and B-C. Given in the order A, C, B, D.
const chain = (): ClusterMembers => ({ ids: ['A', 'C', 'B', 'D'], vectors: angles(0, 20, 10, 90) });

describe('dedupCluster', () => {
  it('one-per-group keeps the first member of the chain A~B~C and reports the pairs', async () => {
    for (const kernel of [js, onnx]) {
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
    for (const kernel of [js, onnx]) {
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
      for (const kernel of [js, onnx]) {
        const blocked = await dedupCluster(members, { eps: 0.05, order: 'input', rule, blockRows: 3 }, kernel);
        expect(blocked.kept).toEqual(reference.kept);
        expect(blocked.removed.map((r) => [r.id, r.matchedId])).toEqual(reference.removed.map((r) => [r.id, r.matchedId]));
      }
    }
  });

  it('refuses eps out of range, unknown rules and missing order data', async () => {
    await expect(dedupCluster(chain(), { eps: 0 }, js)).rejects.toThrow(/eps must be in \(0, 1\), got 0/);
    await expect(dedupCluster(chain(), { eps: 1.5 }, js)).rejects.toThrow(/eps must be in \(0, 1\)/);
    await expect(dedupCluster(chain(), { eps: 0.1, rule: 'all' as never }, js)).rejects.toThrow(/rule must be one of one-per-group, semdedup/);
    await expect(dedupCluster(chain(), { eps: 0.1 }, js)).rejects.toThrow(/order nearest-centroid needs centroidSimilarity/);
    const zero = { ids: ['a', 'b'], vectors: { data: Float32Array.from([1, 0, 0, 0]), rows: 2, dim: 2 } };
    await expect(dedupCluster(zero, { eps: 0.1, order: 'input' }, js)).rejects.toThrow(/embedding 1 is all zeros/);
  });
});
