// Public entry of @select/retrieval-service: the gRPC retrieval index service (create / add / search /
// range-search / snapshot / bulk-load) and its clients, single-instance and sharded.
export { retrievalConfigSchema, type RetrievalConfig } from './config.js';
export { SERVICE_NAME } from './retrieval-definition.js';
export { startRetrievalServer, type RetrievalServer } from './server.js';
export {
  RetrievalClient,
  type BulkLoadInput,
  type CreateIndexInput,
  type FilterInput,
  type RangeSearchInput,
  type SearchInput,
  type VectorInput,
  type AddVectorsResponse,
  type IndexInfo,
  type JobStatusMsg,
  type MetricName,
  type NeighborMsg,
  type QuantizationName,
  type QueryResultMsg,
  type SearchResponse,
} from './retrieval-client.js';
export type { VectorLike } from './vector-codec.js';
export { ShardedRetrievalClient, shardOf, type ShardedAddOptions } from './sharded-client.js';
