// Request and response shapes of select.retrieval.v1 as proto-loader produces them (camelCase, enums as
// names, 64-bit integers as strings). @select/contracts generates these types but exports only the event
// payloads from its entry, so the service spells out the subset it uses.

export type MetricName = 'METRIC_UNSPECIFIED' | 'METRIC_COSINE' | 'METRIC_INNER_PRODUCT' | 'METRIC_L2';
export type QuantizationName = 'QUANTIZATION_NONE' | 'QUANTIZATION_F16' | 'QUANTIZATION_I8';

export interface AnnParamsMsg {
  connectivity: number;
  efConstruction: number;
  efSearch: number;
}

export interface CreateIndexRequest {
  name: string;
  dimension: number;
  metric: MetricName;
  ann?: AnnParamsMsg | null;
  quantization: QuantizationName;
}

export interface IndexRef {
  name: string;
}

export interface IndexInfo {
  name: string;
  dimension: number;
  metric: MetricName;
  ann: AnnParamsMsg;
  quantization: QuantizationName;
  size: string;
  memoryBytes: string;
  logEntriesSinceSnapshot: string;
  lastSnapshotUnixMs: string;
  loadError: string;
}

export interface AddVectorRequest {
  index: string;
  id: string;
  vector: number[];
  metadata: Record<string, string>;
  vectorF32: Buffer;
}

export interface ItemErrorMsg {
  itemId: string;
  code: string;
  message: string;
}

export interface AddVectorsResponse {
  added: string;
  replaced: string;
  errors: ItemErrorMsg[];
}

export interface RemoveIdsRequest {
  index: string;
  ids: string[];
}

export interface FilterMsg {
  allowIds: string[];
  denyIds: string[];
  metadataEquals: Record<string, string>;
}

export interface QueryMsg {
  vector: number[];
  vectorF32: Buffer;
}

export interface SearchRequest {
  index: string;
  queries: QueryMsg[];
  k: number;
  exact: boolean;
  filter?: FilterMsg | null;
  efSearch: number;
  includeMetadata: boolean;
  compact: boolean;
}

export interface RangeSearchRequest {
  index: string;
  queries: QueryMsg[];
  minSimilarity: number;
  maxResults: number;
  filter?: FilterMsg | null;
  exact: boolean;
  efSearch: number;
  includeMetadata: boolean;
  compact: boolean;
}

export interface NeighborMsg {
  id: string;
  score: number;
  metadata: Record<string, string>;
}

export interface QueryResultMsg {
  neighbors: NeighborMsg[];
  truncated: boolean;
  /** Compact responses: parallel arrays instead of `neighbors`. */
  ids: string[];
  scores: number[];
}

export interface SearchResponse {
  results: QueryResultMsg[];
}

export interface ListIndexesResponse {
  indexes: IndexInfo[];
}

export interface BulkLoadRequest {
  index: string;
  inputUri: string;
  embeddings: string;
  idColumn: string;
  metadataColumns: string[];
}

export type JobStateName =
  | 'JOB_STATE_UNSPECIFIED'
  | 'JOB_STATE_QUEUED'
  | 'JOB_STATE_RUNNING'
  | 'JOB_STATE_SUCCEEDED'
  | 'JOB_STATE_FAILED'
  | 'JOB_STATE_CANCELLED';

export interface JobStatusMsg {
  jobId: string;
  kind: string;
  state: JobStateName;
  done: string;
  total: string;
  unit: string;
  message: string;
  createdUnixMs: string;
  updatedUnixMs: string;
  outputUri: string;
}
