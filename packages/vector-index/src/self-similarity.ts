// The self-similarity scan of one set of vectors: what SemDeDup needs per k-means cluster (used by
// @select/curation-filters), on the exact search's blocked AVX-512 / AVX2 micro-kernels with the reductions
// fused into the kernel's epilogue, so the n x n similarity matrix is never stored.
import { availableParallelism } from 'node:os';
import { invalidArgument } from './errors.js';
import { nativeModule } from './native-binding.js';

export interface SelfSimilarityOptions {
  /** Positions -> rows of `vectors`: the set, in the order "earlier" refers to. @default every row, in order */
  order?: Int32Array;
  /** L2-normalise every row first (cosine similarities); a zero or non-finite row is refused. @default false */
  normalize?: boolean;
  /**
   * The similarity decisions are made against: every score whose float32 value lies within the float32
   * error bound of it (about 2·d·2⁻²⁴ times the norms) is recomputed in float64 from the given rows, so
   * `best[j] > threshold` and the pairs listed are exactly right, not rounding's coin flips. @default none
   */
  threshold?: number;
  /** List every pair (i < j) whose similarity is strictly above `threshold` (which it needs). @default false */
  pairs?: boolean;
  /** Native threads. @default availableParallelism() */
  threads?: number;
  /** One of `exactKernels()` (tests and benchmarks). @default the fastest this CPU runs */
  exactKernel?: string;
}

export interface SelfSimilarity {
  /**
   * Per position j: max over earlier positions i < j of x_i · x_j (-Infinity at position 0): the float32
   * kernel's value, or the float64 one where it was near `threshold`.
   */
  best: Float64Array;
  /** Per position j: the earlier position of `best` (the lowest on ties); -1 at position 0. */
  bestAt: Int32Array;
  /** With `pairs`: pairs (i, j), i < j, similarity > threshold, flattened `[i0, j0, i1, j1, ...]`, sorted by i then j. */
  pairs: Int32Array;
  pairScores: Float64Array;
  /** Scores recomputed in float64 because they were within the float32 error bound of `threshold`. */
  refined: number;
}

/**
 * For a set of n vectors (in `order`), the strict lower triangle of its similarity matrix S = X·Xᵀ reduced
 * in the kernel: each position's best earlier match (SemDeDup's `triu(S, 1).max(0)`) and, with a
 * threshold, the pairs above it. About n²·d multiply-adds (half the product); memory 2·n·d floats for the
 * packed copies, never n². Float32 products accumulated in dimension order (FMA where the CPU has it), so the
 * result is the same for any `threads`; scores near `threshold` are recomputed in float64.
 */
export async function selfSimilarity(vectors: Float32Array, dim: number, options: SelfSimilarityOptions = {}): Promise<SelfSimilarity> {
  if (!Number.isInteger(dim) || dim < 1) throw invalidArgument(`selfSimilarity: dim must be a positive integer (got ${dim})`);
  if (vectors.length % dim !== 0) throw invalidArgument(`selfSimilarity: ${vectors.length} floats are not rows of ${dim}`);
  const rows = vectors.length / dim;
  const order = options.order ?? Int32Array.from({ length: rows }, (_, i) => i);
  for (const row of order) if (!(row >= 0 && row < rows)) throw invalidArgument(`selfSimilarity: order names row ${row}, outside the ${rows} rows given`);
  const threads = options.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw invalidArgument(`selfSimilarity: threads must be a positive integer (got ${threads})`);
  const { threshold } = options;
  if (threshold !== undefined && !Number.isFinite(threshold)) throw invalidArgument(`selfSimilarity: threshold must be a finite number (got ${threshold})`);
  if (options.pairs && threshold === undefined) throw invalidArgument('selfSimilarity: pairs needs a threshold');
  const out = await nativeModule().selfSimilarity(vectors, dim, order, {
    threads,
    normalize: options.normalize ?? false,
    ...(threshold !== undefined ? { threshold, pairs: options.pairs ?? false } : {}),
    ...(options.exactKernel !== undefined ? { exactKernel: options.exactKernel } : {}),
  });
  if (out.invalidRow >= 0) {
    let q = 0;
    for (let t = 0; t < dim; t++) q += vectors[out.invalidRow * dim + t]! ** 2;
    throw invalidArgument(`selfSimilarity: row ${out.invalidRow} ${q === 0 ? 'is all zeros and has no direction' : 'contains NaN or infinite values'}`, { row: out.invalidRow });
  }
  return { best: out.best, bestAt: out.bestAt, pairs: out.pairs, pairScores: out.pairScores, refined: out.refined };
}
