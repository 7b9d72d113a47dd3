import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBalancedBank, KnnAccumulator } from './knn.js';
import { Linalg, normalizeRows, transpose, type Matrix } from './linalg.js';
import { SeededRandom } from './random.js';

function gaussian(rows: number, cols: number, seed: number, shift?: (r: number) => number): Matrix {
  const rng = new SeededRandom(seed);
  const data = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) data[r * cols + c] = rng.normal() + (shift ? (c === shift(r) ? 3 : 0) : 0);
  return { data, rows, cols };
}

/** SELECT's eval_knn written out directly: full similarity matrix, sort, weighted votes, sort classes. */
function directKnn(bank: Matrix, bankLabels: Int32Array, queries: Matrix, labels: Int32Array, classes: number, k: number, t: number) {
  let top1 = 0;
  let top5 = 0;
  for (let q = 0; q < queries.rows; q++) {
    const sims: Array<[number, number]> = [];
    for (let b = 0; b < bank.rows; b++) {
      let s = 0;
      for (let c = 0; c < bank.cols; c++) s += queries.data[q * bank.cols + c]! * bank.data[b * bank.cols + c]!;
      sims.push([s, b]);
    }
    sims.sort((a, b) => b[0] - a[0]);
    const votes = new Float64Array(classes);
    for (const [s, b] of sims.slice(0, k)) votes[bankLabels[b]!]! += Math.exp(s / t);
    const order = [...votes.keys()].filter((c) => votes[c]! > 0).sort((a, b) => votes[b]! - votes[a]! || a - b);
    if (order[0] === labels[q]) top1++;
    if (order.slice(0, Math.min(5, k)).includes(labels[q]!)) top5++;
  }
  return { top1: (100 * top1) / queries.rows, top5: (100 * top5) / queries.rows };
}

describe('buildBalancedBank', () => {
  it("keeps a full class's first rows, fills a short class around its mean and gives an empty class a noisy point", () => {
    // 2-d features; class 0 has three rows, class 1 one row, class 2 none; two rows per class wanted
    const features = { data: Float32Array.from([1, 0, 2, 0, 3, 0, 0, 5]), rows: 4, cols: 2 };
    const bank = buildBalancedBank(features, [0, 0, 0, 1], 3, 2, 7);
    expect(bank.features.rows).toBe(6);
    expect([...bank.labels]).toEqual([0, 0, 1, 1, 2, 2]);
    expect(bank.oversampledClasses).toEqual([1]);
    expect(bank.emptyClasses).toEqual([2]);
    const row = (i: number) => [...bank.features.data.subarray(i * 2, i * 2 + 2)];
    // class 0: the first two rows, normalised -> both (1, 0); the third row (3, 0) is not used
    expect(row(0)).toEqual([1, 0]);
    expect(row(1)).toEqual([1, 0]);
    // class 1 had one row (0, 5): its std is 1e-5, so the filled row is (0, 5) within noise, normalised (0, 1)
    expect(row(3)[0]).toBeCloseTo(0, 4);
    expect(row(3)[1]).toBeCloseTo(1, 6);
    // class 2: a point of the bounding box [0, 3] x [0, 5] and a copy within N(0, 0.01) of it
    const p = row(4);
    const copy = row(5);
    expect(Math.hypot(p[0]! - copy[0]!, p[1]! - copy[1]!)).toBeLessThan(0.05);
    expect(p[0]).toBeGreaterThanOrEqual(0);
    expect(p[1]).toBeGreaterThanOrEqual(0);
  });

  it('nudges exact duplicates, is the same for the same seed and differs for another', () => {
    const features = { data: Float32Array.from([1, 2, 1, 2, 3, 1]), rows: 3, cols: 2 };
    const a = buildBalancedBank(features, [0, 0, 1], 2, 3, 1);
    const b = buildBalancedBank(features, [0, 0, 1], 2, 3, 1);
    const c = buildBalancedBank(features, [0, 0, 1], 2, 3, 2);
    expect(a.nudgedDuplicates).toBe(1);
    expect(a.features.data).toEqual(b.features.data);
    expect(a.features.data).not.toEqual(c.features.data);
    // the duplicate moved, but only by about 1e-3
    const [r0, r1] = [a.features.data.subarray(0, 2), a.features.data.subarray(2, 4)];
    expect(r0).not.toEqual(r1);
    expect(Math.abs(r0[0]! - r1[0]!)).toBeLessThan(0.01);
  });

  it('refuses labels outside the classes and an empty shift', () => {
    const features = { data: Float32Array.from([1, 2]), rows: 1, cols: 2 };
    expect(() => buildBalancedBank(features, [3], 2, 1, 0)).toThrow(/label 3, outside the 2 classes/);
    expect(() => buildBalancedBank({ data: new Float32Array(0), rows: 0, cols: 2 }, [], 2, 1, 0)).toThrow(/no features/);
  });
});

describe('weighted kNN', () => {
  let linalg: Linalg;
  beforeAll(async () => {
    linalg = await Linalg.open({ threads: 1, blockRows: 37 });
  });
  afterAll(async () => {
    await linalg.close();
  });

  it('matches a direct implementation of SELECT’s formula for every k', async () => {
    const classes = 12;
    const d = 16;
    // shift features towards one dimension per class, so that neighbours carry signal
    const shiftFeatures = gaussian(600, d, 3, (r) => r % classes);
    const shiftLabels = Int32Array.from({ length: 600 }, (_, r) => r % classes);
    const bank = buildBalancedBank(shiftFeatures, shiftLabels, classes, 20, 11);
    const queries = normalizeRows(gaussian(150, d, 5, (r) => r % classes));
    const labels = Int32Array.from({ length: 150 }, (_, r) => r % classes);
    const ks = [1, 10, 20, 100, 200];
    const acc = new KnnAccumulator({ ks, temperature: 0.07, classes, bankLabels: bank.labels });
    const neighbours = await linalg.topK(queries, transpose(bank.features), acc.maxK);
    acc.add(neighbours, labels);
    const scores = acc.scores();
    for (const [i, k] of ks.entries()) {
      const expected = directKnn(bank.features, bank.labels, queries, labels, classes, k, 0.07);
      expect(scores[i]).toEqual({ k, top1: expected.top1, top5: expected.top5 });
    }
    // not a degenerate case: the scores differ between k and sit between chance and perfect
    expect(scores[1]!.top1).toBeGreaterThan(100 / classes);
    expect(scores[1]!.top1).toBeLessThan(100);
  });

  it('scores a k larger than the bank with the whole bank', async () => {
    const bank = { data: Float32Array.from([1, 0, 0, 1]), rows: 2, cols: 2 };
    const acc = new KnnAccumulator({ ks: [1, 5], temperature: 0.07, classes: 2, bankLabels: Int32Array.from([0, 1]) });
    const queries = { data: Float32Array.from([0.9, 0.1, 0.2, 0.8]), rows: 2, cols: 2 };
    acc.add(await linalg.topK(queries, transpose(bank), acc.maxK), [0, 0]);
    // k=1: the first query is right, the second wrong; k=5 (whole bank): top-5 holds both classes
    expect(acc.scores()).toEqual([
      { k: 1, top1: 50, top5: 50 },
      { k: 5, top1: 50, top5: 100 },
    ]);
  });

  it('refuses bad k and temperature', () => {
    const bankLabels = Int32Array.from([0]);
    expect(() => new KnnAccumulator({ ks: [0], temperature: 0.07, classes: 1, bankLabels })).toThrow(/positive integers/);
    expect(() => new KnnAccumulator({ ks: [10], temperature: 0, classes: 1, bankLabels })).toThrow(/temperature/);
  });
});
