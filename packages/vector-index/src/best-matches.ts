// Best match per row of A among the rows of B (k-means assignment of embeddings to centroids; used by
// @select/curation-filters), on the exact search's blocked AVX-512 / AVX2 micro-kernels with a running argmax
// in the epilogue: the rows x B scores are never stored.
import { availableParallelism } from 'node:os';
import { invalidArgument } from './errors.js';
import { nativeModule } from './native-binding.js';

export interface BestMatchesOptions {
  /** L2-normalise every row of A first (cosine against unit rows of B); a zero or non-finite row then scores NaN. @default false */
  normalizeA?: boolean;
  /** Native threads. @default availableParallelism() */
  threads?: number;
  /** One of `exactKernels()` (tests and benchmarks). @default the fastest this CPU runs */
  exactKernel?: string;
}

export interface BestMatches {
  /** Per row of A: its best row of B (the lowest index on ties). */
  index: Int32Array;
  /** Per row of A: that row's score (dot product, of the normalised row with `normalizeA`); NaN for a row that cannot be normalised. */
  score: Float32Array;
}

/**
 * For every row of `a` (rows x dim), the row of `b` with the largest dot product. 2·rows(a)·rows(b)·dim
 * flops; memory: packed copies of a and b. Float32 products accumulated in dimension order, so the result
 * is the same for any `threads`.
 */
export async function bestMatches(a: Float32Array, b: Float32Array, dim: number, options: BestMatchesOptions = {}): Promise<BestMatches> {
  if (!Number.isInteger(dim) || dim < 1) throw invalidArgument(`bestMatches: dim must be a positive integer (got ${dim})`);
  if (a.length % dim !== 0 || b.length % dim !== 0) throw invalidArgument(`bestMatches: ${a.length} and ${b.length} floats are not rows of ${dim}`);
  if (b.length === 0) throw invalidArgument('bestMatches: b has no rows to match against');
  const threads = options.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw invalidArgument(`bestMatches: threads must be a positive integer (got ${threads})`);
  return nativeModule().bestMatches(a, b, dim, {
    threads,
    normalize: options.normalizeA ?? false,
    ...(options.exactKernel !== undefined ? { exactKernel: options.exactKernel } : {}),
  });
}
