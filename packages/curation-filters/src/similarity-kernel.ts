// The linear algebra every algorithm of the package needs, behind one interface: best / top-k rows of B
// for every row of A, and thresholded pairs of one block of A·Bᵀ. `OnnxSimilarityKernel` runs it through
// MLAS GEMM in an ONNX Runtime worker thread (the fast path); `JsSimilarityKernel` is the plain reference
// the tests hold it to (and enough for a few thousand vectors).
import { invalidArgument } from './errors.js';
import type { Matrix } from './vectors.js';

/** Best rows of B per row of A, row-major `[a.rows, k]`; ties go to the lower index of B. */
export interface Neighbours {
  k: number;
  index: Int32Array;
  score: Float32Array;
}

/**
 * One block of S = A·Bᵀ with every entry S[i][j] where `j - i < offset` masked to 0 (pass 1 for a
 * diagonal block of one set against itself: only pairs i < j; pass `-a.rows` to keep everything).
 */
export interface PairBlock {
  /** Per column j: the largest (masked) entry over the rows, 0 when every entry is masked. */
  columnMax: Float32Array;
  /** Per column j: the row of `columnMax` (the lowest such row on ties). */
  columnArgmax: Int32Array;
  /** Pairs (i, j) with masked S[i][j] strictly above the threshold, flattened `[i0, j0, i1, j1, ...]`, row-major order. */
  pairs: Int32Array;
  pairScores: Float32Array;
}

/** One set of rows against itself (see SimilarityKernel.scanSet); positions are indices into `order`. */
export interface SetScan {
  /** Per position j: the best similarity to an earlier position i < j; -Infinity at position 0. */
  best: Float64Array;
  /** Per position j: the earlier position of `best` (the lowest on ties); -1 at position 0. */
  bestAt: Int32Array;
  /** With `pairs`: pairs (i, j), i < j, similarity strictly above the threshold, flattened `[i0, j0, i1, j1, ...]`. */
  pairs: Int32Array;
  pairScores: Float64Array;
}

/** Per column j: its best earlier row (see SimilarityKernel.earlierMax). */
export interface EarlierMax {
  columnMax: Float32Array;
  columnArgmax: Int32Array;
}

export interface SimilarityKernel {
  readonly name: string;
  /**
   * For every row of `a`, its best row of `b` by dot product (cosine for normalised rows). With
   * `normalizeA` the rows of `a` are L2-normalised first (inside the kernel); a zero or non-finite row
   * of `a` then scores NaN.
   */
  nearest(a: Matrix, b: Matrix, options?: { normalizeA?: boolean }): Promise<Neighbours>;
  /** For every row of `a`, its `min(k, b.rows)` best rows of `b`, best first. */
  topK(a: Matrix, b: Matrix, k: number): Promise<Neighbours>;
  /** One block of thresholded pairs (see PairBlock); the threshold must be >= 0 so masked entries never pass. */
  pairs(a: Matrix, b: Matrix, offset: number, threshold: number): Promise<PairBlock>;
  /**
   * SemDeDup's `triu(S, 1).max(0)` without the pairs: per column j, the best row that comes before it —
   * rows i < j of `a` itself when `b` is absent (column 0: max 0, argmax 0), every row of `a` when `b` is given.
   */
  earlierMax(a: Matrix, b?: Matrix): Promise<EarlierMax>;
  /**
   * Optional fused path for a whole cluster (dedupCluster uses it when present, instead of `earlierMax` /
   * `pairs` block by block): the rows of `vectors` that `order` names, L2-normalised (a zero or non-finite
   * row is refused), against themselves — per position its best earlier position and, with `pairs`, every
   * pair above `threshold` — with no similarity matrix held. Comparisons with `threshold` are exact (scores
   * within float32 rounding of it recomputed in float64).
   */
  scanSet?(vectors: Matrix, order: Int32Array, threshold: number, pairs: boolean): Promise<SetScan>;
  /** The whole product A·Bᵀ, row-major `[a.rows, b.rows]` (keep it small: a.rows x b.rows floats). */
  similarities(a: Matrix, b: Matrix): Promise<Float32Array>;
  close(): Promise<void>;
}

export function checkSameDim(a: Matrix, b: Matrix): void {
  if (a.dim !== b.dim) throw invalidArgument(`dimension mismatch: ${a.dim}-dimensional rows compared with ${b.dim}-dimensional rows`);
  if (b.rows === 0) throw invalidArgument('cannot search an empty set of vectors');
}

/** Plain loops; exact to float32 summation order, slow past a few million multiply-adds. */
export class JsSimilarityKernel implements SimilarityKernel {
  readonly name = 'js';

  async nearest(a: Matrix, b: Matrix, options: { normalizeA?: boolean } = {}): Promise<Neighbours> {
    if (!options.normalizeA) return this.topK(a, b, 1);
    const unit = new Float32Array(a.data.length);
    for (let r = 0; r < a.rows; r++) {
      let q = 0;
      for (let t = 0; t < a.dim; t++) q += a.data[r * a.dim + t]! ** 2;
      for (let t = 0; t < a.dim; t++) unit[r * a.dim + t] = a.data[r * a.dim + t]! / Math.sqrt(q);
    }
    const out = await this.topK({ data: unit, rows: a.rows, dim: a.dim }, b, 1);
    for (let r = 0; r < a.rows; r++) if (!Number.isFinite(unit[r * a.dim]!)) out.score[r] = Number.NaN;
    return out;
  }

  async topK(a: Matrix, b: Matrix, k: number): Promise<Neighbours> {
    checkSameDim(a, b);
    const kk = Math.min(k, b.rows);
    const index = new Int32Array(a.rows * kk);
    const score = new Float32Array(a.rows * kk);
    const sims = new Float32Array(b.rows);
    const order = new Int32Array(b.rows);
    for (let i = 0; i < a.rows; i++) {
      for (let j = 0; j < b.rows; j++) {
        sims[j] = dotAt(a.data, i * a.dim, b.data, j * b.dim, a.dim);
        order[j] = j;
      }
      const sorted = Array.from(order).sort((x, y) => sims[y]! - sims[x]! || x - y);
      for (let t = 0; t < kk; t++) {
        index[i * kk + t] = sorted[t]!;
        score[i * kk + t] = sims[sorted[t]!]!;
      }
    }
    return { k: kk, index, score };
  }

  async pairs(a: Matrix, b: Matrix, offset: number, threshold: number): Promise<PairBlock> {
    checkSameDim(a, b);
    const columnMax = new Float32Array(b.rows);
    const columnArgmax = new Int32Array(b.rows);
    const pairs: number[] = [];
    const pairScores: number[] = [];
    for (let i = 0; i < a.rows; i++) {
      for (let j = 0; j < b.rows; j++) {
        const s = j - i < offset ? 0 : Math.fround(dotAt(a.data, i * a.dim, b.data, j * b.dim, a.dim));
        if (i === 0 || s > columnMax[j]!) {
          columnMax[j] = s;
          columnArgmax[j] = i;
        }
        if (s > threshold) {
          pairs.push(i, j);
          pairScores.push(s);
        }
      }
    }
    return { columnMax, columnArgmax, pairs: Int32Array.from(pairs), pairScores: Float32Array.from(pairScores) };
  }

  async earlierMax(a: Matrix, b?: Matrix): Promise<EarlierMax> {
    if (b === undefined) {
      const block = await this.pairs(a, a, 1, Infinity);
      return { columnMax: block.columnMax, columnArgmax: block.columnArgmax };
    }
    const block = await this.pairs(a, b, -a.rows, Infinity);
    return { columnMax: block.columnMax, columnArgmax: block.columnArgmax };
  }

  async similarities(a: Matrix, b: Matrix): Promise<Float32Array> {
    checkSameDim(a, b);
    const out = new Float32Array(a.rows * b.rows);
    for (let i = 0; i < a.rows; i++) for (let j = 0; j < b.rows; j++) out[i * b.rows + j] = dotAt(a.data, i * a.dim, b.data, j * b.dim, a.dim);
    return out;
  }

  async close(): Promise<void> {}
}

function dotAt(x: Float32Array, xo: number, y: Float32Array, yo: number, dim: number): number {
  let s = 0;
  for (let t = 0; t < dim; t++) s += x[xo + t]! * y[yo + t]!;
  return s;
}
