// The only module that loads the native addon (native/vector_index.cc, built by `npm run build:native`).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { VectorIndexError } from './errors.js';

export type NativeMetric = 'ip' | 'l2sq';
export type NativeScalar = 'f32' | 'f16' | 'i8';

export interface NativeIndexOptions {
  dimensions: number;
  /** 'ip' scores by dot product (cosine when vectors are normalised), 'l2sq' by negative squared distance. */
  metric: NativeMetric;
  quantization: NativeScalar;
  /** Links a new node gets on every level (usearch's `connectivity`). */
  connectivity: number;
  /** Links a base-level node keeps as reverse links arrive (usearch's `connectivity_base`). @default 2 × connectivity */
  connectivityBase?: number;
  expansionAdd: number;
  /**
   * Address space reserved up front for an f32 index's vectors (untouched pages cost no memory); when
   * it fills up the vectors move to a reservation twice as large. @default 32 GiB
   */
  reserveBytes?: number;
}

export interface NativeSearchOptions {
  /** Results kept per query. */
  capacity: number;
  /** Brute force over every stored vector instead of the graph. */
  exact: boolean;
  /** Graph candidates explored per query (ef); raised to `capacity` when lower. */
  breadth: number;
  /** Smallest score kept (range search). */
  floor?: number;
  threads: number;
  /** Per key: 1 = set. Without `invertMask` only set keys are searched; with it, set keys are skipped. */
  mask?: Uint8Array;
  invertMask?: boolean;
  /** Exact search only: one of `exactKernels()` (tests and benchmarks); unset: the first, the fastest this CPU runs. */
  exactKernel?: string;
}

/** Results of a batch, CSR style: query q owns entries offsets[q] .. offsets[q + 1], best first. */
export interface NativeResults {
  /** Keys as doubles: exact, since keys are dense row numbers. */
  keys: Float64Array;
  scores: Float32Array;
  offsets: Uint32Array;
}

export interface NativeIndex {
  add(keys: BigUint64Array, vectors: Float32Array, threads: number): Promise<void>;
  remove(keys: BigUint64Array): Promise<number>;
  search(queries: Float32Array, options: NativeSearchOptions): Promise<NativeResults>;
  save(path: string): Promise<void>;
  load(path: string): Promise<void>;
  size(): number;
  /** Bytes of the graph and the stored vectors. */
  memoryUsage(): number;
  isa(): { graph: string; exact: string };
}

interface NativeModule {
  NativeIndex: new (options: NativeIndexOptions) => NativeIndex;
  /** The exact-search kernels this CPU runs, fastest (the default) first: `avx512f`, `avx2+fma`, `generic`. */
  exactKernels: string[];
  /** The self-similarity scan (self-similarity.ts); vectors are read in place until it settles. */
  selfSimilarity(vectors: Float32Array, dimensions: number, order: Int32Array, options: NativeSelfSimilarityOptions): Promise<NativeSelfSimilarity>;
  /** Best row of b per row of a (best-matches.ts); a and b are read in place until it settles. */
  bestMatches(a: Float32Array, b: Float32Array, dimensions: number, options: { threads: number; normalize: boolean; exactKernel?: string }): Promise<{ index: Int32Array; score: Float32Array }>;
}

export interface NativeSelfSimilarityOptions {
  threads: number;
  normalize: boolean;
  /** Scores near it are recomputed in float64; with `pairs`, the pairs above it are listed. */
  threshold?: number;
  pairs?: boolean;
  exactKernel?: string;
}

export interface NativeSelfSimilarity {
  best: Float64Array;
  bestAt: Int32Array;
  pairs: Int32Array;
  pairScores: Float64Array;
  refined: number;
  /** -1, or (normalize) the first row in position order that is all zeros or not finite. */
  invalidRow: number;
}

// The same relative path from src/ (tests) and dist/ (built package).
const ADDON = fileURLToPath(new URL('../build/Release/select_vector_index.node', import.meta.url));

let loaded: NativeModule | undefined;

/** The addon, loaded once; a clear error when it has not been built. */
export function nativeModule(): NativeModule {
  if (loaded) return loaded;
  if (!existsSync(ADDON)) {
    throw new VectorIndexError(
      'INTERNAL',
      `the native addon ${ADDON} is not built; run \`npm run build:native -w @select/vector-index\``,
    );
  }
  try {
    loaded = createRequire(import.meta.url)(ADDON) as NativeModule;
  } catch (cause) {
    throw new VectorIndexError('INTERNAL', `the native addon ${ADDON} failed to load; rebuild it`, { cause });
  }
  return loaded;
}

export function createNativeIndex(options: NativeIndexOptions): NativeIndex {
  const { NativeIndex } = nativeModule();
  return new NativeIndex(options);
}

/** The exact-search kernels this CPU runs, fastest (the one used by default) first. */
export function exactKernels(): string[] {
  return [...nativeModule().exactKernels];
}
