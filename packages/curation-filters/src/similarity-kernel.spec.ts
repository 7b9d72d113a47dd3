import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { angles, randomMatrix } from './fixtures.test-util.js';
import { OnnxSimilarityKernel } from './onnx-similarity-kernel.js';
import { JsSimilarityKernel, type SimilarityKernel } from './similarity-kernel.js';
import { normalizeRows } from './vectors.js';

const js = new JsSimilarityKernel();
let onnx: OnnxSimilarityKernel;
let onnxSmallBlocks: OnnxSimilarityKernel;
let onnxGraphs: OnnxSimilarityKernel; // nearest(normalizeA) and scanSet through the ONNX graphs, not the native kernels

beforeAll(async () => {
  onnx = await OnnxSimilarityKernel.open({ threads: 1 });
  // blocks of 7 rows of B and at most 50 entries per call: every merge path runs
  onnxSmallBlocks = await OnnxSimilarityKernel.open({ threads: 1, blockRows: 7, maxBlockEntries: 50 });
  onnxGraphs = await OnnxSimilarityKernel.open({ threads: 1, nativeNearest: false, nativeSetScan: false });
});
afterAll(async () => {
  await onnx.close();
  await onnxSmallBlocks.close();
  await onnxGraphs.close();
});

const kernels = (): SimilarityKernel[] => [js, onnx, onnxSmallBlocks];

describe('similarity kernels', () => {
  it('find the best and the top-k rows on hand-worked vectors, ties to the lower index', async () => {
    const a = angles(0, 90);
    const b = angles(0, 53.13010235415598, 90, 90); // [1,0], [0.6,0.8], [0,1], [0,1]
    for (const kernel of kernels()) {
      const nearest = await kernel.nearest(a, b);
      expect([...nearest.index], kernel.name).toEqual([0, 2]);
      expect(nearest.score[0]).toBeCloseTo(1, 6);
      const top = await kernel.topK(a, b, 3);
      expect(top.k).toBe(3);
      expect([...top.index], kernel.name).toEqual([0, 1, 2, 2, 3, 1]);
      expect([...top.score].map((s) => Number(s.toFixed(4)))).toEqual([1, 0.6, 0, 1, 1, 0.8]);
    }
  });

  it('agree with each other on random data (nearest, top-k, masked pairs)', async () => {
    const a = normalizeRows(randomMatrix(37, 16, 1));
    const b = normalizeRows(randomMatrix(29, 16, 2));
    const want = await js.topK(a, b, 5);
    const wantNearest = await js.nearest(a, b);
    const wantPairs = await js.pairs(a, b, 2, 0.3);
    for (const kernel of [onnx, onnxSmallBlocks]) {
      const got = await kernel.topK(a, b, 5);
      expect([...got.index]).toEqual([...want.index]);
      got.score.forEach((s, i) => expect(s).toBeCloseTo(want.score[i]!, 5));
      expect([...(await kernel.nearest(a, b)).index]).toEqual([...wantNearest.index]);
    }
    const pairs = await onnx.pairs(a, b, 2, 0.3);
    expect([...pairs.pairs]).toEqual([...wantPairs.pairs]);
    expect([...pairs.columnArgmax]).toEqual([...wantPairs.columnArgmax]);
    pairs.columnMax.forEach((s, i) => expect(s).toBeCloseTo(wantPairs.columnMax[i]!, 5));
    pairs.pairScores.forEach((s, i) => expect(s).toBeCloseTo(wantPairs.pairScores[i]!, 5));
    expect(wantPairs.pairs.length).toBeGreaterThan(0);
  });

  it('mask entries below the diagonal offset in pair blocks', async () => {
    const x = angles(0, 5, 10);
    for (const kernel of [js, onnx]) {
      const block = await kernel.pairs(x, x, 1, 0.99);
      // only i < j: (0,1) cos 5° and (1,2) cos 5°; (0,2) cos 10° = 0.985 is below 0.99
      expect([...block.pairs], kernel.name).toEqual([0, 1, 1, 2]);
      expect(block.columnMax[0]).toBe(0);
      expect([...block.columnArgmax]).toEqual([0, 0, 1]);
    }
  });

  it('give each column its best earlier row (SemDeDup triu max) within a set and across two', async () => {
    const x = normalizeRows(randomMatrix(23, 16, 3));
    const y = normalizeRows(randomMatrix(11, 16, 4));
    for (const kernel of [js, onnx]) {
      const within = await kernel.earlierMax(x);
      const reference = await js.pairs(x, x, 1, Infinity);
      expect([...within.columnArgmax], kernel.name).toEqual([...reference.columnArgmax]);
      within.columnMax.forEach((s, i) => expect(s).toBeCloseTo(reference.columnMax[i]!, 5));
      const across = await kernel.earlierMax(x, y);
      const want = await js.topK(y, x, 1); // best row of x for every row of y
      expect([...across.columnArgmax]).toEqual([...want.index]);
      across.columnMax.forEach((s, i) => expect(s).toBeCloseTo(want.score[i]!, 5));
    }
  });

  it('give the same earlier matches from the banded lower-triangle graphs as from the whole product', async () => {
    const kernels = await Promise.all(([1, 4, 8, 'auto'] as const).map((triangleParts) => OnnxSimilarityKernel.open({ threads: 1, triangleParts })));
    try {
      // 64 is the smallest set that takes the banded graphs; 67 and 131 leave bands of unequal height
      for (const [n, seed] of [
        [64, 7],
        [67, 8],
        [131, 9],
      ] as const) {
        const x = normalizeRows(randomMatrix(n, 16, seed));
        const reference = await js.pairs(x, x, 1, Infinity);
        for (const kernel of kernels) {
          const got = await kernel.earlierMax(x);
          expect([...got.columnArgmax]).toEqual([...reference.columnArgmax]);
          got.columnMax.forEach((s, i) => expect(s).toBeCloseTo(reference.columnMax[i]!, 5));
          expect(got.columnMax[0]).toBe(0);
        }
      }
      await expect(OnnxSimilarityKernel.open({ triangleParts: 3 as never })).rejects.toThrow(/triangleParts must be 1, 4, 8 or auto/);
    } finally {
      await Promise.all(kernels.map((k) => k.close()));
    }
  });

  it('normalise the rows of A inside the kernel when asked; a zero row scores NaN', async () => {
    const a = { data: Float32Array.from([3, 4, 0, 0, 0, -2]), rows: 3, dim: 2 };
    for (const kernel of [js, onnx, onnxSmallBlocks, onnxGraphs]) {
      const out = await kernel.nearest(a, angles(0, 90), { normalizeA: true });
      expect(out.index[0], kernel.name).toBe(1);
      expect(out.score[0]).toBeCloseTo(0.8, 6);
      expect(out.score[1]).toBeNaN();
      expect(out.score[2]).toBeCloseTo(0, 6);
    }
  });

  it('agree on the nearest unit row for unnormalised rows of A (native kernels, graphs, plain loops)', async () => {
    const a = randomMatrix(301, 40, 7); // not normalised
    const b = normalizeRows(randomMatrix(53, 40, 8));
    const want = await js.nearest(a, b, { normalizeA: true });
    for (const kernel of [onnx, onnxSmallBlocks, onnxGraphs]) {
      const got = await kernel.nearest(a, b, { normalizeA: true });
      expect([...got.index]).toEqual([...want.index]);
      got.score.forEach((s, i) => expect(s).toBeCloseTo(want.score[i]!, 5));
    }
  });

  it('give the whole product A·Bᵀ in row-major order', async () => {
    const a = normalizeRows(randomMatrix(9, 16, 5));
    const b = normalizeRows(randomMatrix(7, 16, 6));
    const want = await js.similarities(a, b);
    expect(want[2 * 7 + 3]).toBeCloseTo([...a.data.subarray(32, 48)].reduce((acc, v, t) => acc + v * b.data[3 * 16 + t]!, 0), 6);
    for (const kernel of [onnx, onnxSmallBlocks]) {
      const got = await kernel.similarities(a, b);
      got.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 5));
    }
  });

  it('refuse a dimension mismatch and an empty set', async () => {
    for (const kernel of [js, onnx]) {
      await expect(kernel.nearest(angles(0), randomMatrix(2, 3, 1))).rejects.toThrow(/dimension mismatch: 2-dimensional rows compared with 3-dimensional/);
      await expect(kernel.topK(angles(0), { data: new Float32Array(0), rows: 0, dim: 2 }, 1)).rejects.toThrow(/empty set/);
    }
  });
});
