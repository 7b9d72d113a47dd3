// The analytic metrics of a shift that need no model (SELECT's analytical/key.md): Coverage, LT@500, LS@5pct,
// and class-count entropy and Gini, all from the samples per class; CLIPScore from paired image and caption
// embeddings. Embedding-based metrics (near duplicates, contamination, CMMD) are in embedding-analytics.ts.
import { EvaluatorInputError } from '../errors.js';

export interface ClassCountMetrics {
  samples: number;
  classes: number;
  /** Classes with at least one sample. */
  coverage: number;
  /** Classes with fewer than 500 samples, empty ones included (how the paper counts OI1000's 764). */
  lt500: number;
  /** Classes with 1..499 samples (empty classes left out). */
  lt500NonEmpty: number;
  /** Share (percent) of all samples held by the largest 5 % of classes (50 of 1000). */
  ls5pct: number;
  /** Shannon entropy of the class distribution, in bits. */
  entropyBits: number;
  /** Entropy over log2(classes): 1 for a perfectly balanced shift. */
  entropyNormalized: number;
  /** Gini coefficient of the samples per class over all classes (0 balanced, -> 1 all in one class). */
  gini: number;
}

/** Metrics of a class histogram (`counts[c]` samples of class c, over the whole label space). */
export function classCountMetrics(counts: readonly number[], threshold = 500): ClassCountMetrics {
  if (counts.length === 0) throw new EvaluatorInputError('the label space has no classes');
  for (const [c, n] of counts.entries()) {
    if (!Number.isInteger(n) || n < 0) throw new EvaluatorInputError(`class ${c} has count ${n}; counts must be non-negative integers`);
  }
  const samples = counts.reduce((a, b) => a + b, 0);
  if (samples === 0) throw new EvaluatorInputError('the shift has no samples');
  const sorted = [...counts].sort((a, b) => a - b);
  const top = Math.ceil(0.05 * counts.length);
  const topSum = sorted.slice(sorted.length - top).reduce((a, b) => a + b, 0);
  let entropy = 0;
  for (const n of counts) if (n > 0) entropy -= (n / samples) * Math.log2(n / samples);
  // Gini from the ascending order: (2 * sum_i i * x_(i)) / (n * sum x) - (n + 1) / n, i = 1..n
  let weighted = 0;
  sorted.forEach((n, i) => (weighted += (i + 1) * n));
  const k = counts.length;
  return {
    samples,
    classes: k,
    coverage: counts.filter((n) => n > 0).length,
    lt500: counts.filter((n) => n < threshold).length,
    lt500NonEmpty: counts.filter((n) => n > 0 && n < threshold).length,
    ls5pct: (100 * topSum) / samples,
    entropyBits: entropy,
    entropyNormalized: k > 1 ? entropy / Math.log2(k) : 1,
    gini: (2 * weighted) / (k * samples) - (k + 1) / k,
  };
}

/**
 * CLIPScore (torchmetrics, as SELECT's quality-metrics.py): 100 * max(cos(image, text), 0), averaged over the
 * pairs. Rows of `images` and `texts` pair up; neither needs to be normalised.
 */
export function clipScore(images: Float32Array, texts: Float32Array, dim: number): { mean: number; pairs: number } {
  if (images.length !== texts.length || images.length % dim !== 0) {
    throw new EvaluatorInputError(`CLIPScore needs as many image as text embeddings of dimension ${dim}`);
  }
  const pairs = images.length / dim;
  if (pairs === 0) throw new EvaluatorInputError('CLIPScore needs at least one image-caption pair');
  let sum = 0;
  for (let p = 0; p < pairs; p++) {
    let dot = 0;
    let ni = 0;
    let nt = 0;
    for (let c = 0; c < dim; c++) {
      const a = images[p * dim + c]!;
      const b = texts[p * dim + c]!;
      dot += a * b;
      ni += a * a;
      nt += b * b;
    }
    const cos = ni > 0 && nt > 0 ? dot / Math.sqrt(ni * nt) : 0;
    sum += 100 * Math.max(cos, 0);
  }
  return { mean: sum / pairs, pairs };
}
