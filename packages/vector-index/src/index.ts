// Public entry of @select/vector-index: ANN (HNSW, on usearch) and exact kNN over embeddings, with
// snapshots, an append-only log and crash recovery.
export { CorruptIndexError, VectorIndexError, type VectorIndexErrorCode } from './errors.js';
export {
  addSpecDefaults,
  METRICS,
  QUANTIZATIONS,
  SPEC_LIMITS,
  type IndexSpec,
  type IndexSpecInput,
  type Metric,
  type Quantization,
} from './index-spec.js';
export { METADATA_LIMITS, type Metadata } from './metadata-store.js';
export {
  SEARCH_LIMITS,
  VectorIndex,
  type AddBatch,
  type AddItem,
  type FlatNeighbors,
  type ItemProblem,
  type Neighbor,
  type QueryNeighbors,
  type RangeSearchOptions,
  type SearchFilter,
  type SearchOptions,
  type VectorIndexOptions,
} from './vector-index.js';
export {
  PersistentIndex,
  type AddResult,
  type IndexStats,
  type PersistentIndexOptions,
} from './persistent-index.js';
export { IndexCatalog, INDEX_NAME_PATTERN, type IndexLoadFailure } from './index-catalog.js';
export { exactKernels } from './native-binding.js';
export { selfSimilarity, type SelfSimilarity, type SelfSimilarityOptions } from './self-similarity.js';
export { bestMatches, type BestMatches, type BestMatchesOptions } from './best-matches.js';
