// Dense linear algebra for the kNN, near-duplicate and CMMD metrics, run as two tiny ONNX graphs
// (models/*.onnx, written by tools/evaluator/make_linalg_graphs.py) through @select/inference, so the
// matrix products use onnxruntime's MLAS GEMM on every core instead of JavaScript loops. Work is cut into
// row blocks, so memory stays at block x columns floats whatever the number of rows.
import { fileURLToPath } from 'node:url';
import { float32, int64, SessionPool } from '@select/inference';

const MODELS = {
  knnTopK: fileURLToPath(new URL('../../models/knn_topk.onnx', import.meta.url)),
  rbfSum: fileURLToPath(new URL('../../models/rbf_sum.onnx', import.meta.url)),
};

export interface LinalgOptions {
  /** Threads onnxruntime uses per product. @default all cores */
  threads?: number;
  /** Query rows per topK call and x rows per rbf call: memory is rows x columns x 4 bytes. @default 2048 */
  blockRows?: number;
}

export interface TopKResult {
  /** rows x k similarities, best first. */
  values: Float32Array;
  /** rows x k column indices. */
  indices: Int32Array;
  k: number;
}

/** Row-major matrix: `rows` x `cols` float32. */
export interface Matrix {
  data: Float32Array;
  rows: number;
  cols: number;
}

export class Linalg {
  readonly #pool: SessionPool;
  readonly #blockRows: number;

  private constructor(pool: SessionPool, blockRows: number) {
    this.#pool = pool;
    this.#blockRows = blockRows;
  }

  static async open(options: LinalgOptions = {}): Promise<Linalg> {
    const pool = await SessionPool.open(
      { knnTopK: MODELS.knnTopK, rbfSum: MODELS.rbfSum },
      { workers: 1, ...(options.threads ? { intraOpThreads: options.threads } : {}) },
    );
    return new Linalg(pool, Math.max(1, options.blockRows ?? 2048));
  }

  /**
   * The k largest inner products of every query row with the columns of `keysT` (d x n, the keys transposed),
   * best first. `onBlock` reports progress after each block of queries; `signal` stops between blocks.
   */
  async topK(queries: Matrix, keysT: Matrix, k: number, options: { signal?: AbortSignal; onBlock?: (done: number) => void } = {}): Promise<TopKResult> {
    if (queries.cols !== keysT.rows) throw new RangeError(`queries have ${queries.cols} columns, keys ${keysT.rows} rows`);
    const kk = Math.min(k, keysT.cols);
    const values = new Float32Array(queries.rows * kk);
    const indices = new Int32Array(queries.rows * kk);
    for (let start = 0; start < queries.rows; start += this.#blockRows) {
      options.signal?.throwIfAborted();
      const end = Math.min(queries.rows, start + this.#blockRows);
      const block = queries.data.slice(start * queries.cols, end * queries.cols);
      const out = await this.#pool.run(
        'knnTopK',
        {
          queries: float32(block, [end - start, queries.cols]),
          // the pool transfers feed buffers to its worker, so each call gets its own copy of the keys
          bank_t: float32(keysT.data.slice(), [keysT.rows, keysT.cols]),
          k: int64(BigInt64Array.of(BigInt(kk)), [1]),
        },
        ['values', 'indices'],
      );
      values.set(out['values']!.data as Float32Array, start * kk);
      const idx = out['indices']!.data as BigInt64Array;
      for (let i = 0; i < idx.length; i++) indices[start * kk + i] = Number(idx[i]!);
      options.onBlock?.(end);
    }
    return { values, indices, k: kk };
  }

  /**
   * Sum over all pairs (i, j) of exp(-gamma * ||x_i - y_j||^2), in float64 across blocks. Returned as
   * (sum of (k - 1), pairs), so callers can form means near 1 without float32 cancellation.
   */
  async rbfKernelSum(x: Matrix, y: Matrix, gamma: number, signal?: AbortSignal): Promise<{ sumMinusOne: number; pairs: number }> {
    if (x.cols !== y.cols) throw new RangeError(`x has ${x.cols} columns, y ${y.cols}`);
    const ySq = squaredNorms(y);
    const xSq = squaredNorms(x);
    let sum = 0;
    for (let start = 0; start < x.rows; start += this.#blockRows) {
      signal?.throwIfAborted();
      const end = Math.min(x.rows, start + this.#blockRows);
      const out = await this.#pool.run(
        'rbfSum',
        {
          x: float32(x.data.slice(start * x.cols, end * x.cols), [end - start, x.cols]),
          y: float32(y.data.slice(), [y.rows, y.cols]),
          x_sq: float32(xSq.slice(start, end), [end - start, 1]),
          y_sq: float32(ySq.slice(), [1, y.rows]),
          neg_gamma: float32(Float32Array.of(-gamma), []),
        },
        ['row_sums'],
      );
      for (const v of out['row_sums']!.data as Float32Array) sum += v;
    }
    return { sumMinusOne: sum, pairs: x.rows * y.rows };
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }
}

function squaredNorms(m: Matrix): Float32Array {
  const out = new Float32Array(m.rows);
  for (let r = 0; r < m.rows; r++) {
    let s = 0;
    for (let c = 0, o = r * m.cols; c < m.cols; c++) s += m.data[o + c]! * m.data[o + c]!;
    out[r] = s;
  }
  return out;
}

/** The transpose of a row-major matrix. */
export function transpose(m: Matrix): Matrix {
  const out = new Float32Array(m.data.length);
  for (let r = 0; r < m.rows; r++) {
    for (let c = 0; c < m.cols; c++) out[c * m.rows + r] = m.data[r * m.cols + c]!;
  }
  return { data: out, rows: m.cols, cols: m.rows };
}

/** L2-normalises every row in place (a zero row stays zero). */
export function normalizeRows(m: Matrix): Matrix {
  for (let r = 0; r < m.rows; r++) {
    const o = r * m.cols;
    let s = 0;
    for (let c = 0; c < m.cols; c++) s += m.data[o + c]! * m.data[o + c]!;
    const n = Math.sqrt(s);
    if (n > 0) for (let c = 0; c < m.cols; c++) m.data[o + c]! /= n;
  }
  return m;
}
