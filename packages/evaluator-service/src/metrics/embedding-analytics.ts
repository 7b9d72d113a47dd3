// Shift metrics from image embeddings: CMMD against a reference set, the near-duplicate rate inside a shift and
// contamination by a registered evaluation set. The products run in blocks through linalg.ts.
import { EvaluatorInputError } from '../errors.js';
import { normalizeRows, transpose, type Linalg, type Matrix } from './linalg.js';

/** CMMD's constants (Jayasumana et al., google-research/cmmd): RBF bandwidth and output scale. */
export const CMMD_SIGMA = 10;
export const CMMD_SCALE = 1000;

/**
 * CMMD between two embedding sets with the biased (minimum-variance) MMD estimator of the reference
 * implementation: scale * (mean k(x, x') + mean k(y, y') - 2 mean k(x, y)), all pairs including i = j,
 * k(a, b) = exp(-||a - b||^2 / (2 sigma^2)). Embeddings are used as given (the reference normalises CLIP
 * embeddings before; the embedding service already returns them normalised).
 */
export async function cmmd(linalg: Linalg, x: Matrix, y: Matrix, options: { sigma?: number; scale?: number; signal?: AbortSignal } = {}): Promise<number> {
  if (x.rows === 0 || y.rows === 0) throw new EvaluatorInputError('CMMD needs at least one embedding on each side');
  if (x.cols !== y.cols) throw new EvaluatorInputError(`CMMD of ${x.cols}-d against ${y.cols}-d embeddings`);
  const sigma = options.sigma ?? CMMD_SIGMA;
  const scale = options.scale ?? CMMD_SCALE;
  const gamma = 1 / (2 * sigma * sigma);
  // mean(k) = 1 + mean(k - 1): the sums of (k - 1) keep the small differences float32 would lose near 1
  const xx = await linalg.rbfKernelSum(x, x, gamma, options.signal);
  const yy = await linalg.rbfKernelSum(y, y, gamma, options.signal);
  const xy = await linalg.rbfKernelSum(x, y, gamma, options.signal);
  return scale * (xx.sumMinusOne / xx.pairs + yy.sumMinusOne / yy.pairs - (2 * xy.sumMinusOne) / xy.pairs);
}

/**
 * Share of rows whose most similar other row of the same set has cosine similarity >= threshold. Also returns
 * the indices of those rows so a report can show them.
 */
export async function nearDuplicateRate(linalg: Linalg, embeddings: Matrix, threshold: number, signal?: AbortSignal): Promise<{ rate: number; duplicates: number[] }> {
  if (embeddings.rows < 2) return { rate: 0, duplicates: [] };
  const unit = normalizeRows({ ...embeddings, data: embeddings.data.slice() });
  const found = await linalg.topK(unit, transpose(unit), 2, { ...(signal ? { signal } : {}) });
  const duplicates: number[] = [];
  for (let r = 0; r < unit.rows; r++) {
    // the best match of a row is usually itself; take the best that is another row
    const [a, b] = [found.indices[r * 2]!, found.indices[r * 2 + 1]!];
    const other = a === r ? found.values[r * 2 + 1]! : b === r ? found.values[r * 2]! : Math.max(found.values[r * 2]!, found.values[r * 2 + 1]!);
    if (other >= threshold) duplicates.push(r);
  }
  return { rate: duplicates.length / unit.rows, duplicates };
}

/**
 * Share of shift rows whose nearest evaluation-set row has cosine similarity >= threshold: the evaluation
 * images that leaked into the shift (what the curator's contamination gate removes before writing).
 */
export async function contaminationRate(linalg: Linalg, shift: Matrix, evalSet: Matrix, threshold: number, signal?: AbortSignal): Promise<{ rate: number; contaminated: number }> {
  if (shift.rows === 0) throw new EvaluatorInputError('contamination of an empty shift');
  if (evalSet.rows === 0) return { rate: 0, contaminated: 0 };
  const s = normalizeRows({ ...shift, data: shift.data.slice() });
  const e = normalizeRows({ ...evalSet, data: evalSet.data.slice() });
  const found = await linalg.topK(s, transpose(e), 1, { ...(signal ? { signal } : {}) });
  let contaminated = 0;
  for (const v of found.values) if (v >= threshold) contaminated++;
  return { rate: contaminated / shift.rows, contaminated };
}
