// Public entry of @select/retrieval-service: the gRPC retrieval index service (create / add / search /
// range-search / snapshot / bulk-load) and its clients, single-instance and sharded.
export { retrievalConfigSchema, type RetrievalConfig } from './config.js';
export { startRetrievalServer, type RetrievalServer } from './server.js';
export {
  RetrievalClient,
  SERVICE_NAME,
  type BulkLoadInput,
  type CreateIndexInput,
  type FilterInput,
  type RangeSearchInput,
  type SearchInput,
  type VectorInput,
  type VectorLike,
} from './retrieval-client.js';
export { ShardedRetrievalClient, shardOf, type ShardedAddOptions } from './sharded-client.js';
export type {
  AddVectorsResponse,
  IndexInfo,
  JobStatusMsg,
  MetricName,
  NeighborMsg,
  QuantizationName,
  QueryResultMsg,
  SearchResponse,
} from './rpc-types.js';
