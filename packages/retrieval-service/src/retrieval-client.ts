import type { ClientReadableStream, ClientWritableStream, ServiceError as GrpcServiceError } from '@grpc/grpc-js';
import type { commonV1, retrievalV1 } from '@select/contracts';
import {
  GrpcCallError,
  Metadata,
  createGrpcClient,
  unary,
  type GenericServiceClient,
  type GrpcClientOptions,
  type UnaryCallOptions,
} from '@select/platform';
import { SERVICE_NAME, retrievalPackageDefinition } from './retrieval-definition.js';
import type { WithQueryVectors } from './search-codec.js';
import { encodeVector, type VectorLike } from './vector-codec.js';

// Responses as this client returns them: the generated output shapes (64-bit counts as decimal strings).
export type AddVectorsResponse = retrievalV1.AddVectorsResponse__Output;
export type IndexInfo = retrievalV1.IndexInfo__Output;
export type SearchResponse = retrievalV1.SearchResponse__Output;
export type QueryResultMsg = retrievalV1.QueryResult__Output;
export type NeighborMsg = retrievalV1.Neighbor__Output;
export type JobStatusMsg = commonV1.JobStatus__Output;
export type MetricName = retrievalV1.Metric__Output;
export type QuantizationName = retrievalV1.Quantization__Output;

export interface CreateIndexInput {
  name: string;
  dimension: number;
  /** @default 'METRIC_COSINE' */
  metric?: MetricName;
  /** @default 'QUANTIZATION_NONE' */
  quantization?: QuantizationName;
  /** HNSW parameters; 0 or absent: the service's defaults (16, 128, 64). */
  ann?: { connectivity?: number; efConstruction?: number; efSearch?: number };
}

export interface VectorInput {
  id: string;
  vector: VectorLike;
  metadata?: Readonly<Record<string, string>>;
}

export interface FilterInput {
  allowIds?: readonly string[];
  denyIds?: readonly string[];
  metadataEquals?: Readonly<Record<string, string>>;
}

export interface SearchInput {
  index: string;
  queries: readonly VectorLike[];
  k: number;
  exact?: boolean;
  efSearch?: number;
  filter?: FilterInput;
  includeMetadata?: boolean;
  /** Results as `ids` / `scores` arrays instead of Neighbor messages: much cheaper for large k. */
  compact?: boolean;
}

export interface RangeSearchInput {
  index: string;
  queries: readonly VectorLike[];
  minSimilarity: number;
  maxResults?: number;
  exact?: boolean;
  efSearch?: number;
  filter?: FilterInput;
  includeMetadata?: boolean;
  compact?: boolean;
}

export interface BulkLoadInput {
  index: string;
  /** A clip-retrieval folder (path or file: URL). */
  inputUri: string;
  /** @default 'img_emb' */
  embeddings?: 'img_emb' | 'text_emb';
  /** Metadata column used as the vector id; absent: the row number. */
  idColumn?: string;
  metadataColumns?: readonly string[];
}

function filterMsg(filter: FilterInput | undefined): retrievalV1.Filter | undefined {
  if (!filter) return undefined;
  return {
    allowIds: [...(filter.allowIds ?? [])],
    denyIds: [...(filter.denyIds ?? [])],
    metadataEquals: { ...filter.metadataEquals },
  };
}

/** The fields Search and RangeSearch requests share. */
function queryFields(input: SearchInput | RangeSearchInput) {
  return {
    index: input.index,
    // Written straight into the request bytes by the package definition's serializer.
    queries: input.queries,
    exact: input.exact ?? false,
    efSearch: input.efSearch ?? 0,
    filter: filterMsg(input.filter),
    includeMetadata: input.includeMetadata ?? false,
    compact: input.compact ?? false,
  };
}

type StreamMethod = (
  metadata: Metadata,
  options: { deadline?: number },
  callback: (error: Error | null, response?: AddVectorsResponse) => void,
) => ClientWritableStream<unknown>;

/** A typed client of one retrieval service instance. */
export class RetrievalClient {
  readonly address: string;
  private readonly client: GenericServiceClient;
  private readonly defaultDeadlineMs: number;

  constructor(address: string, options: GrpcClientOptions = {}) {
    this.address = address;
    this.defaultDeadlineMs = options.defaultDeadlineMs ?? 30_000;
    this.client = createGrpcClient(retrievalPackageDefinition(), SERVICE_NAME, address, {
      idempotentMethods: ['Search', 'RangeSearch', 'GetStats', 'ListIndexes', 'GetJob'],
      ...options,
    });
  }

  createIndex(input: CreateIndexInput, options?: UnaryCallOptions): Promise<IndexInfo> {
    return unary<IndexInfo>(
      this.client,
      'CreateIndex',
      {
        name: input.name,
        dimension: input.dimension,
        metric: input.metric ?? 'METRIC_COSINE',
        quantization: input.quantization ?? 'QUANTIZATION_NONE',
        ann: { connectivity: 0, efConstruction: 0, efSearch: 0, ...input.ann },
      },
      options,
    );
  }

  /**
   * Streams vectors into an index (respecting back-pressure) and resolves once the service has made
   * them durable. Items the service rejects come back in `errors`; the rest are added.
   */
  async addVectors(
    index: string,
    items: Iterable<VectorInput> | AsyncIterable<VectorInput>,
    options: { deadlineMs?: number } = {},
  ): Promise<AddVectorsResponse> {
    const method = (this.client as unknown as Record<string, StreamMethod>)['AddVectors']!.bind(this.client);
    const deadlineMs = options.deadlineMs ?? this.defaultDeadlineMs;
    let stream!: ClientWritableStream<unknown>;
    const response = new Promise<AddVectorsResponse>((resolve, reject) => {
      stream = method(new Metadata(), deadlineMs > 0 ? { deadline: Date.now() + deadlineMs } : {}, (error, value) => {
        if (error) reject(new GrpcCallError('AddVectors', error as GrpcServiceError));
        else resolve(value!);
      });
    });
    let ended = false;
    // Observed at once, so an early failure is not an unhandled rejection while we are still writing.
    const settled = response.then(
      () => (ended = true),
      () => (ended = true),
    );
    let first = true;
    try {
      for await (const item of items) {
        if (ended) break;
        const message = { index: first ? index : '', id: item.id, vectorF32: encodeVector(item.vector), metadata: { ...item.metadata } };
        first = false;
        if (!stream.write(message)) {
          // Wait for room, unless the call ends first (a failed call never drains).
          await Promise.race([new Promise<void>((resolve) => stream.once('drain', resolve)), settled]);
        }
      }
      stream.end();
    } catch (error) {
      stream.cancel();
      await settled;
      throw error;
    }
    return response;
  }

  async removeIds(index: string, ids: readonly string[], options?: UnaryCallOptions): Promise<number> {
    const response = await unary<retrievalV1.RemoveIdsResponse__Output>(this.client, 'RemoveIds', { index, ids }, options);
    return Number(response.removed);
  }

  search(input: SearchInput, options?: UnaryCallOptions): Promise<SearchResponse> {
    const request: WithQueryVectors<retrievalV1.SearchRequest> = { ...queryFields(input), k: input.k };
    return unary<SearchResponse>(this.client, 'Search', request, options);
  }

  rangeSearch(input: RangeSearchInput, options?: UnaryCallOptions): Promise<SearchResponse> {
    const request: WithQueryVectors<retrievalV1.RangeSearchRequest> = {
      ...queryFields(input),
      minSimilarity: input.minSimilarity,
      maxResults: input.maxResults ?? 0,
    };
    return unary<SearchResponse>(this.client, 'RangeSearch', request, options);
  }

  getStats(name: string, options?: UnaryCallOptions): Promise<IndexInfo> {
    return unary<IndexInfo>(this.client, 'GetStats', { name }, options);
  }

  snapshot(name: string, options?: UnaryCallOptions): Promise<IndexInfo> {
    return unary<IndexInfo>(this.client, 'Snapshot', { name }, options);
  }

  async listIndexes(options?: UnaryCallOptions): Promise<IndexInfo[]> {
    return (await unary<retrievalV1.ListIndexesResponse__Output>(this.client, 'ListIndexes', {}, options)).indexes;
  }

  async dropIndex(name: string, options?: UnaryCallOptions): Promise<boolean> {
    return (await unary<retrievalV1.DropIndexResponse__Output>(this.client, 'DropIndex', { name }, options)).dropped;
  }

  bulkLoad(input: BulkLoadInput, options?: UnaryCallOptions): Promise<JobStatusMsg> {
    return unary<JobStatusMsg>(
      this.client,
      'BulkLoad',
      {
        index: input.index,
        inputUri: input.inputUri,
        embeddings: input.embeddings ?? 'img_emb',
        idColumn: input.idColumn ?? '',
        metadataColumns: [...(input.metadataColumns ?? [])],
      },
      options,
    );
  }

  getJob(jobId: string, options?: UnaryCallOptions): Promise<JobStatusMsg> {
    return unary<JobStatusMsg>(this.client, 'GetJob', { jobId }, options);
  }

  /** Stops a running or queued BulkLoad at a checkpoint; starting the same request again resumes it. */
  cancelJob(jobId: string, options?: UnaryCallOptions): Promise<JobStatusMsg> {
    return unary<JobStatusMsg>(this.client, 'CancelJob', { jobId }, options);
  }

  /** Jobs newest first; `state` e.g. 'JOB_STATE_RUNNING'; pass the previous page's nextPageToken for the next page. */
  listJobs(filter: { kind?: string; state?: commonV1.JobState__Output; pageSize?: number; pageToken?: string } = {}, options?: UnaryCallOptions): Promise<commonV1.ListJobsResponse__Output> {
    return unary<commonV1.ListJobsResponse__Output>(this.client, 'ListJobs', filter, options);
  }

  /** The job's status now and at each change, until a terminal state (or the deadline / `signal`). */
  async *watchJob(jobId: string, options: { deadlineMs?: number; signal?: AbortSignal } = {}): AsyncGenerator<JobStatusMsg> {
    const call = (this.client as unknown as Record<string, (r: object, o: { deadline: number }) => ClientReadableStream<JobStatusMsg>>)['WatchJob']!.call(
      this.client,
      { jobId },
      { deadline: options.deadlineMs === undefined ? Infinity : Date.now() + options.deadlineMs },
    );
    const cancel = (): void => call.cancel();
    options.signal?.addEventListener('abort', cancel, { once: true });
    try {
      for await (const status of call as AsyncIterable<JobStatusMsg>) yield status;
    } catch (error) {
      if (options.signal?.aborted) return;
      throw new GrpcCallError('WatchJob', error as GrpcServiceError);
    } finally {
      options.signal?.removeEventListener('abort', cancel);
      call.cancel();
    }
  }

  close(): void {
    this.client.close();
  }
}
