import { describe, expect, it } from 'vitest';
import { correlate, ranks } from './correlation.js';
import { classCountMetrics, clipScore } from './shift-analytics.js';

describe('classCountMetrics', () => {
  it('works out a 20-class histogram by hand', () => {
    // 20 classes: one of 1000, one of 600, three of 100, one of 499, four of 10, ten empty
    const counts = [1000, 600, 100, 100, 100, 499, 10, 10, 10, 10, ...new Array<number>(10).fill(0)];
    const m = classCountMetrics(counts);
    expect(m.samples).toBe(2439);
    expect(m.coverage).toBe(10);
    expect(m.lt500).toBe(18); // all but the 1000 and the 600, the empty ten included
    expect(m.lt500NonEmpty).toBe(8);
    // 5 % of 20 classes = the single largest: 1000 / 2439
    expect(m.ls5pct).toBeCloseTo((100 * 1000) / 2439, 12);
    const p = counts.filter((n) => n > 0).map((n) => n / 2439);
    expect(m.entropyBits).toBeCloseTo(-p.reduce((a, q) => a + q * Math.log2(q), 0), 12);
    expect(m.entropyNormalized).toBeCloseTo(m.entropyBits / Math.log2(20), 12);
    // Gini by its definition: mean absolute difference over twice the mean
    let diff = 0;
    for (const a of counts) for (const b of counts) diff += Math.abs(a - b);
    expect(m.gini).toBeCloseTo(diff / (2 * 20 * 20 * (2439 / 20)), 12);
  });

  it('gives 0 Gini and full entropy for a balanced shift, and the paper’s OI1000 arithmetic', () => {
    const balanced = classCountMetrics(new Array<number>(1000).fill(1300));
    expect(balanced.gini).toBeCloseTo(0, 12);
    expect(balanced.entropyNormalized).toBeCloseTo(1, 12);
    expect(balanced.ls5pct).toBeCloseTo(5, 12);
    expect(balanced.lt500).toBe(0);
    // 38 empty classes and 726 non-empty under 500: LT@500 764 with the empties, 726 without
    const oi = [...new Array<number>(38).fill(0), ...new Array<number>(726).fill(200), ...new Array<number>(236).fill(4000)];
    const m = classCountMetrics(oi);
    expect(m.coverage).toBe(962);
    expect(m.lt500).toBe(764);
    expect(m.lt500NonEmpty).toBe(726);
  });

  it('refuses empty and negative histograms', () => {
    expect(() => classCountMetrics([0, 0])).toThrow(/no samples/);
    expect(() => classCountMetrics([3, -1])).toThrow(/class 1 has count -1/);
    expect(() => classCountMetrics([])).toThrow(/no classes/);
  });
});

describe('clipScore', () => {
  it('is 100 * max(cos, 0) averaged over pairs', () => {
    // pair 1: cos = 1 -> 100; pair 2: orthogonal -> 0; pair 3: cos = -0.6 -> clipped to 0; pair 4: cos 0.6 -> 60
    const images = Float32Array.from([1, 0, 1, 0, 1, 0, 3, 4]);
    const texts = Float32Array.from([2, 0, 0, 5, -3, 4, 1, 0]);
    expect(clipScore(images, texts, 2).mean).toBeCloseTo((100 + 0 + 0 + 60) / 4, 5);
  });
});

describe('correlate', () => {
  it('gives Pearson and Spearman of a hand-worked case', () => {
    // y = x^2 on positive x: Spearman 1 (monotone), Pearson below 1
    const x = [1, 2, 3, 4];
    const y = [1, 4, 9, 16];
    const r = correlate(x, y);
    expect(r.spearman).toBeCloseTo(1, 12);
    // Pearson by hand: mean x 2.5, mean y 7.5; sxy = 25, sxx = 5, syy = 129
    expect(r.pearson).toBeCloseTo(25 / Math.sqrt(5 * 129), 12);
    expect(r.n).toBe(4);
  });

  it('shares ranks between ties and leaves out pairs without a value', () => {
    expect(ranks([10, 20, 20, 5])).toEqual([2, 3.5, 3.5, 1]);
    const r = correlate([1, 2, Number.NaN, 3], [3, 2, 7, 1]);
    expect(r.n).toBe(3);
    expect(r.spearman).toBeCloseTo(-1, 12);
    expect(correlate([1], [2]).pearson).toBeNaN();
  });
});

describe('shiftCorrelations', () => {
  it('pairs per-class values by class and leaves out classes without a value', async () => {
    const { shiftCorrelations } = await import('./correlation.js');
    const r = shiftCorrelations({
      counts: [10, 100, 1000, 0],
      accuracy: new Map([
        [0, 20],
        [1, 40],
        [2, 90],
        [3, 0],
      ]),
      // class 3 was never predicted: no precision
      precision: new Map([
        [0, 30],
        [1, 50],
        [2, 70],
      ]),
      referenceAccuracy: new Map([
        [0, 90],
        [1, 60],
        [2, 30],
        [3, 100],
      ]),
      referenceCounts: new Map([
        [0, 1300],
        [1, 1300],
        [2, 1300],
        [3, 1299],
      ]),
    });
    // precision rises with count over classes 0..2: Spearman 1; Pearson of (30,50,70) against (10,100,1000) by hand
    expect(r['precision_vs_count']!.n).toBe(3);
    expect(r['precision_vs_count']!.spearman).toBeCloseTo(1, 12);
    const mx = 50;
    const my = 370;
    const sxy = (30 - mx) * (10 - my) + 0 + (70 - mx) * (1000 - my);
    const sxx = 400 + 0 + 400;
    const syy = (10 - my) ** 2 + (100 - my) ** 2 + (1000 - my) ** 2;
    expect(r['precision_vs_count']!.pearson).toBeCloseTo(sxy / Math.sqrt(sxx * syy), 12);
    expect(r['precision_vs_recall']!.spearman).toBeCloseTo(1, 12);
    // accuracy falls where the reference's rises: -1 in rank over all four classes
    expect(r['accuracy_vs_reference']).toMatchObject({ n: 4 });
    expect(r['accuracy_vs_reference']!.spearman).toBeCloseTo(-1, 12);
    expect(r['count_vs_reference_count']!.n).toBe(4);
  });
});
