import { describe, expect, it } from 'vitest';
import { buildKnnBank } from './knn-bank.js';

const dim = 4;
/** Rows in shift order with their labels: class 0 has 5 rows, class 1 two, class 2 one, class 3 none. */
function features(): { x: Float32Array; y: Int32Array } {
  const rows: Array<[number, number[]]> = [
    [0, [1, 0, 0, 0]], [0, [0.9, 0.1, 0, 0]], [1, [0, 1, 0, 0]], [0, [0.8, 0.2, 0, 0]], [2, [0, 0, 3, 0]],
    [0, [0.7, 0.3, 0, 0]], [1, [0, 0.8, 0.2, 0]], [0, [0.6, 0.4, 0, 0]],
  ];
  return { x: Float32Array.from(rows.flatMap((r) => r[1])), y: Int32Array.from(rows.map((r) => r[0])) };
}
const row = (b: Float32Array, i: number): number[] => Array.from(b.subarray(i * dim, (i + 1) * dim));
const norm = (v: number[]): number => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
const unit = (v: number[]): number[] => v.map((x) => x / norm(v));

describe('buildKnnBank (SELECT eval_knn bank)', () => {
  it('keeps the first n of a large class, fills short classes from N(mean, std), gives an empty class a far point and its noisy copies, all L2-normalised', () => {
    const { x, y } = features();
    const bank = buildKnnBank(x, y, dim, { numClasses: 4, perClass: 3, seed: 1 });
    expect(Array.from(bank.labels)).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]);
    expect(Array.from(bank.origin)).toEqual([0, 0, 0, 0, 0, 1, 0, 1, 1, 2, 2, 2]);
    // class 0: its first three rows in shift order
    for (const [k, src] of [[0, [1, 0, 0, 0]], [1, [0.9, 0.1, 0, 0]], [2, [0.8, 0.2, 0, 0]]] as const) {
      row(bank.vectors, k).forEach((v, j) => expect(v).toBeCloseTo(unit([...src])[j]!, 6));
    }
    // class 2 has one row: std NaN -> 1e-5, so its draws are that row
    for (const k of [7, 8]) row(bank.vectors, k).forEach((v, j) => expect(v).toBeCloseTo([0, 0, 1, 0][j]!, 4));
    // class 1's draw lies around its two rows (mean (0, 0.9, 0.1, 0), sample std (0, 0.14, 0.14, 0))
    const drawn = row(bank.vectors, 5);
    expect(drawn[0]).toBeCloseTo(0, 6);
    expect(drawn[3]).toBeCloseTo(0, 6);
    // empty class: three near-identical points (copies with N(0, 0.01) noise of a point of norm >= 10)
    const [a, b, c] = [row(bank.vectors, 9), row(bank.vectors, 10), row(bank.vectors, 11)];
    const cos = (p: number[], q: number[]): number => p.reduce((s, v, j) => s + v * q[j]!, 0);
    expect(cos(a, b)).toBeGreaterThan(0.99);
    expect(cos(a, c)).toBeGreaterThan(0.99);
    for (let i = 0; i < 12; i++) expect(norm(row(bank.vectors, i))).toBeCloseTo(1, 5);
    expect(bank.stats).toEqual({ realRows: 6, sampledRows: 3, emptyClasses: 1, nudgedDuplicates: 0, seed: 1 });
  });

  it('is seeded: the same seed gives the same bank, another seed other draws; exact duplicates are nudged apart', () => {
    const { x, y } = features();
    const one = buildKnnBank(x, y, dim, { numClasses: 4, perClass: 3, seed: 5 });
    expect(Array.from(buildKnnBank(x, y, dim, { numClasses: 4, perClass: 3, seed: 5 }).vectors)).toEqual(Array.from(one.vectors));
    expect(Array.from(buildKnnBank(x, y, dim, { numClasses: 4, perClass: 3, seed: 6 }).vectors)).not.toEqual(Array.from(one.vectors));
    const dup = buildKnnBank(Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0]), Int32Array.from([0, 0]), dim, { numClasses: 1, perClass: 2, seed: 0 });
    expect(dup.stats.nudgedDuplicates).toBe(1);
    expect(row(dup.vectors, 0)).not.toEqual(row(dup.vectors, 1));
  });

  it('searches only the first n_search rows', () => {
    const { x, y } = features();
    const bank = buildKnnBank(x, y, dim, { numClasses: 4, perClass: 2, nSearch: 3, seed: 0 });
    // within the first 3 rows class 2 is empty and class 1 has one row
    expect(bank.stats.emptyClasses).toBe(2);
    expect(Array.from(bank.origin)).toEqual([0, 0, 0, 1, 2, 2, 2, 2]);
  });
});
