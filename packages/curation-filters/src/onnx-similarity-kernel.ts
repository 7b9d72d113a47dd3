import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { float32, int64, SessionPool, type TensorData } from '@select/inference';
import { bestMatches, selfSimilarity, VectorIndexError } from '@select/vector-index';
import { CurationFilterError, invalidArgument } from './errors.js';
import { checkSameDim, type EarlierMax, type Neighbours, type PairBlock, type SetScan, type SimilarityKernel } from './similarity-kernel.js';
import type { Matrix } from './vectors.js';

// The same relative path from src/ (tests) and dist/ (built package); made by scripts/make_graphs.py.
const graph = (name: string): string => fileURLToPath(new URL(`../graphs/${name}.onnx`, import.meta.url));

export interface OnnxSimilarityKernelOptions {
  /**
   * Threads MLAS uses inside one GEMM.
   * @default availableParallelism()
   */
  threads?: number;
  /**
   * Rows of B sent with one call: B is split into blocks of at most this many rows and the results
   * merged, so that every call copies a bounded slice of B (a call's inputs are copied to the worker).
   * @default 4096
   */
  blockRows?: number;
  /**
   * Largest similarity block (rows of A x rows of B) one call computes; A is cut into row chunks to fit.
   * @default 4,194,304 (16 MiB of float32: measured fastest for the k-means assignment on the 2-core reference machine; 64 MiB blocks ran at 2/3 the speed)
   */
  maxBlockEntries?: number;
  /**
   * Largest slice of A (bytes) one call copies to the worker: A is also cut into row chunks to fit. Large
   * fresh buffers per call cost page faults that outweighed the GEMM (k-means with k 100: 52 MB per call
   * ran 2-3x slower than 8 MiB chunks on the 2-core reference machine).
   * @default 8 MiB
   */
  maxChunkBytes?: number;
  /**
   * `earlierMax` of one set against itself computes only the lower triangle of X·Xᵀ, in this many row bands
   * ((parts + 1) / (2 parts) of the multiply-adds: 4 → 5/8, 8 → 9/16); 1 computes the whole product.
   * `auto` picks by set size: the whole product below 768 rows (the bands' extra nodes cost more than they
   * save there), 4 bands below 2,048 rows, 8 above. Sets below 64 rows always take the whole product.
   * @default 'auto'
   */
  triangleParts?: 1 | 4 | 8 | 'auto';
  /**
   * `scanSet` (a whole cluster against itself, what dedupCluster runs per cluster) on @select/vector-index's
   * native blocked AVX-512 / AVX2 kernels with the reductions fused into the tile epilogue (`selfSimilarity`).
   * `false` leaves the method out, so that dedupCluster takes the ONNX graphs block by block.
   * @default true
   */
  nativeSetScan?: boolean;
  /**
   * `nearest` with `normalizeA` (k-means assignment: rows against unit centroids) on @select/vector-index's
   * native kernels with a running argmax in the epilogue (`bestMatches`) instead of the ONNX graph's GEMM +
   * ReduceMax/ArgMax over a stored score block. `false` keeps the graph.
   * @default true
   */
  nativeNearest?: boolean;
}

/** Sets at least this large can take the banded lower-triangle graphs in `earlierMax`. */
const TRIANGLE_MIN_ROWS = 64;

function bandsFor(rows: number, parts: 1 | 4 | 8 | 'auto'): 1 | 4 | 8 {
  if (rows < TRIANGLE_MIN_ROWS) return 1;
  if (parts !== 'auto') return parts;
  return rows < 768 ? 1 : rows < 2048 ? 4 : 8;
}

/**
 * MLAS GEMM (the kernels ONNX Runtime uses for MatMul) in one worker thread, through @select/inference:
 * three graphs of a few nodes each (graphs/*.onnx). Measured on the 2-core reference machine: 180 GFLOP/s
 * for the nearest-centroid search, about 100x the plain JavaScript loops.
 */
export class OnnxSimilarityKernel implements SimilarityKernel {
  readonly name = 'onnx';

  private constructor(
    private readonly pool: SessionPool,
    private readonly blockRows: number,
    private readonly maxBlockEntries: number,
    private readonly maxChunkBytes: number,
    private readonly triangleParts: 1 | 4 | 8 | 'auto',
    private readonly threads: number,
    nativeSetScan: boolean,
    private readonly nativeNearest: boolean,
  ) {
    if (nativeSetScan) this.scanSet = (vectors, order, threshold, pairs) => this.nativeScanSet(vectors, order, threshold, pairs);
  }

  /** See SimilarityKernel.scanSet; present unless the kernel was opened with `nativeSetScan: false`. */
  readonly scanSet?: (vectors: Matrix, order: Int32Array, threshold: number, pairs: boolean) => Promise<SetScan>;

  /** Rows of A per call against `bRows` rows of B: within maxBlockEntries and maxChunkBytes. */
  private chunkRows(bRows: number, dim: number): number {
    return Math.max(1, Math.min(Math.floor(this.maxBlockEntries / bRows), Math.floor(this.maxChunkBytes / (4 * dim))));
  }

  static async open(options: OnnxSimilarityKernelOptions = {}): Promise<OnnxSimilarityKernel> {
    const threads = options.threads ?? availableParallelism();
    const pool = await SessionPool.open(
      { nearest: graph('nearest'), nearest_normalized: graph('nearest_normalized'), top_k: graph('top_k'), pairs: graph('pairs'), earlier_max: graph('earlier_max'), earlier_max_self: graph('earlier_max_self'),
        earlier_max_self_4: graph('earlier_max_self_4'),
        earlier_max_self_8: graph('earlier_max_self_8'),
        similarities: graph('similarities') },
      { workers: 1, intraOpThreads: threads },
    );
    const triangleParts = options.triangleParts ?? 'auto';
    if (![1, 4, 8, 'auto'].includes(triangleParts)) throw new CurationFilterError('INVALID_ARGUMENT', `triangleParts must be 1, 4, 8 or auto (got ${triangleParts})`);
    return new OnnxSimilarityKernel(
      pool,
      options.blockRows ?? 4096,
      options.maxBlockEntries ?? 4_194_304,
      options.maxChunkBytes ?? 8 * 2 ** 20,
      triangleParts,
      threads,
      options.nativeSetScan ?? true,
      options.nativeNearest ?? true,
    );
  }

  async nearest(a: Matrix, b: Matrix, options: { normalizeA?: boolean } = {}): Promise<Neighbours> {
    const model = options.normalizeA ? 'nearest_normalized' : 'nearest';
    checkSameDim(a, b);
    if (options.normalizeA && this.nativeNearest && a.rows > 0) {
      const { index, score } = await bestMatches(a.data.subarray(0, a.rows * a.dim), b.data.subarray(0, b.rows * b.dim), a.dim, { normalizeA: true, threads: this.threads });
      return { k: 1, index, score };
    }
    const index = new Int32Array(a.rows);
    const score = new Float32Array(a.rows).fill(-Infinity);
    for (const [bStart, bEnd] of blocks(b.rows, this.blockRows)) {
      const bBlock = sliceRows(b, bStart, bEnd);
      const chunk = this.chunkRows(bEnd - bStart, a.dim);
      for (const [aStart, aEnd] of blocks(a.rows, chunk)) {
        const outputs = options.normalizeA ? ['best_score', 'best_index', 'norm'] : ['best_score', 'best_index'];
        const out = await this.pool.run(model, { a: tensor(a, aStart, aEnd), b: tensor(bBlock, 0, bBlock.rows) }, outputs);
        const s = out['best_score']!.data as Float32Array;
        const ix = out['best_index']!.data as BigInt64Array;
        const norm = out['norm']?.data as Float32Array | undefined;
        for (let r = 0; r < s.length; r++) {
          if (Number.isNaN(s[r]!) || (norm !== undefined && !(norm[r]! > 0 && Number.isFinite(norm[r]!)))) {
            score[aStart + r] = Number.NaN;
            continue;
          }
          // blocks of B arrive in index order: a strictly better score wins, so ties keep the lower index
          if (s[r]! > score[aStart + r]! || score[aStart + r] === -Infinity) {
            score[aStart + r] = s[r]!;
            index[aStart + r] = Number(ix[r]!) + bStart;
          }
        }
      }
    }
    return { k: 1, index, score };
  }

  async topK(a: Matrix, b: Matrix, k: number): Promise<Neighbours> {
    checkSameDim(a, b);
    const kk = Math.min(k, b.rows);
    let best: Neighbours | undefined;
    for (const [bStart, bEnd] of blocks(b.rows, this.blockRows)) {
      const bBlock = sliceRows(b, bStart, bEnd);
      const kb = Math.min(kk, bBlock.rows);
      const index = new Int32Array(a.rows * kb);
      const score = new Float32Array(a.rows * kb);
      const chunk = this.chunkRows(bBlock.rows, a.dim);
      for (const [aStart, aEnd] of blocks(a.rows, chunk)) {
        const out = await this.pool.run(
          'top_k',
          { a: tensor(a, aStart, aEnd), b: tensor(bBlock, 0, bBlock.rows), k: int64(BigInt64Array.of(BigInt(kb)), [1]) },
          ['scores', 'indices'],
        );
        score.set(out['scores']!.data as Float32Array, aStart * kb);
        const ix = out['indices']!.data as BigInt64Array;
        for (let t = 0; t < ix.length; t++) index[aStart * kb + t] = Number(ix[t]!) + bStart;
      }
      best = best === undefined ? { k: kb, index, score } : mergeTopK(best, { k: kb, index, score }, kk, a.rows);
    }
    return best!;
  }

  async pairs(a: Matrix, b: Matrix, offset: number, threshold: number): Promise<PairBlock> {
    checkSameDim(a, b);
    const out = await this.pool.run(
      'pairs',
      {
        a: tensor(a, 0, a.rows),
        b: tensor(b, 0, b.rows),
        offset: int64(BigInt64Array.of(BigInt(offset)), []),
        threshold: float32(Float32Array.of(threshold), []),
      },
      ['column_max', 'column_argmax', 'pair_index', 'pair_score'],
    );
    const pairIndex = out['pair_index']!.data as BigInt64Array;
    const pairs = new Int32Array(pairIndex.length);
    for (let t = 0; t < pairIndex.length; t++) pairs[t] = Number(pairIndex[t]!);
    const argmax = out['column_argmax']!.data as BigInt64Array;
    return {
      columnMax: out['column_max']!.data as Float32Array,
      columnArgmax: Int32Array.from(argmax, (v) => Number(v)),
      pairs,
      pairScores: out['pair_score']!.data as Float32Array,
    };
  }

  async earlierMax(a: Matrix, b?: Matrix): Promise<EarlierMax> {
    if (b !== undefined) checkSameDim(a, b);
    else checkSameDim(a, a);
    const out =
      b === undefined
        ? await this.pool.run(earlierMaxSelfGraph(bandsFor(a.rows, this.triangleParts)), { x: tensor(a, 0, a.rows) }, ['column_max', 'column_argmax'])
        : await this.pool.run('earlier_max', { a: tensor(a, 0, a.rows), b: tensor(b, 0, b.rows) }, ['column_max', 'column_argmax']);
    return {
      columnMax: out['column_max']!.data as Float32Array,
      columnArgmax: Int32Array.from(out['column_argmax']!.data as BigInt64Array, (v) => Number(v)),
    };
  }

  private async nativeScanSet(vectors: Matrix, order: Int32Array, threshold: number, pairs: boolean): Promise<SetScan> {
    if (vectors.data.length !== vectors.rows * vectors.dim) throw invalidArgument(`${vectors.rows} x ${vectors.dim} rows need ${vectors.rows * vectors.dim} floats, got ${vectors.data.length}`);
    try {
      return await selfSimilarity(vectors.data, vectors.dim, { order, normalize: true, threads: this.threads, threshold, pairs });
    } catch (error) {
      const row = error instanceof VectorIndexError ? error.details?.['row'] : undefined;
      if (typeof row !== 'number') throw error;
      let q = 0;
      for (let t = 0; t < vectors.dim; t++) q += vectors.data[row * vectors.dim + t]! ** 2;
      throw invalidArgument(`SemDeDup: embedding ${row} ${q === 0 ? 'is all zeros and has no direction' : 'contains NaN or infinite values'}`);
    }
  }

  async similarities(a: Matrix, b: Matrix): Promise<Float32Array> {
    checkSameDim(a, b);
    const out = new Float32Array(a.rows * b.rows);
    const chunk = this.chunkRows(b.rows, a.dim);
    for (const [start, end] of blocks(a.rows, chunk)) {
      const got = await this.pool.run('similarities', { a: tensor(a, start, end), b: tensor(b, 0, b.rows) }, ['s']);
      out.set(got['s']!.data as Float32Array, start * b.rows);
    }
    return out;
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

function earlierMaxSelfGraph(bands: 1 | 4 | 8): string {
  return bands === 1 ? 'earlier_max_self' : `earlier_max_self_${bands}`;
}

function* blocks(total: number, size: number): Generator<[number, number]> {
  if (total === 0) return;
  for (let start = 0; start < total; start += size) yield [start, Math.min(total, start + size)];
}

function sliceRows(m: Matrix, start: number, end: number): Matrix {
  return { data: m.data.subarray(start * m.dim, end * m.dim), rows: end - start, dim: m.dim };
}

/** A copy of rows [start, end): the pool transfers (detaches) the buffers it is given. */
function tensor(m: Matrix, start: number, end: number): TensorData {
  if (end <= start) throw new CurationFilterError('INTERNAL', 'empty block sent to the similarity kernel');
  return float32(m.data.slice(start * m.dim, end * m.dim), [end - start, m.dim]);
}

/** Merges two per-row top lists (x from lower B indices than y), keeping `k`; ties keep x's entries first. */
function mergeTopK(x: Neighbours, y: Neighbours, k: number, rows: number): Neighbours {
  const kk = Math.min(k, x.k + y.k);
  const index = new Int32Array(rows * kk);
  const score = new Float32Array(rows * kk);
  for (let r = 0; r < rows; r++) {
    let i = 0;
    let j = 0;
    for (let t = 0; t < kk; t++) {
      const takeX = j >= y.k || (i < x.k && x.score[r * x.k + i]! >= y.score[r * y.k + j]!);
      if (takeX) {
        index[r * kk + t] = x.index[r * x.k + i]!;
        score[r * kk + t] = x.score[r * x.k + i]!;
        i++;
      } else {
        index[r * kk + t] = y.index[r * y.k + j]!;
        score[r * kk + t] = y.score[r * y.k + j]!;
        j++;
      }
    }
  }
  return { k: kk, index, score };
}
