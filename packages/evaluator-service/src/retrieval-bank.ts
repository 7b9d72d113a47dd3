// A kNN bank kept in the retrieval service (select.retrieval.v1.RetrievalService), as the trainer's knn-bank run
// stores it: `retrieval://<index>`, one vector per bank row, the row's class in its metadata (`wnid`, and
// `class_index` into the shift's class list). The evaluator asks for the k nearest bank vectors of each evaluation
// feature (exact search, compact answers, batches of queries) and for the classes of the neighbours it saw.
// Services never import each other: this talks to the retrieval service over its proto, through the platform's
// client, as the trainer and the curator do.
import { packageDefinition, type retrievalV1 } from '@select/contracts';
import { GrpcCallError, ServiceError, createGrpcClient, status, unary, type GenericServiceClient } from '@select/platform';
import type { Matrix, TopKResult } from './metrics/linalg.js';

const RETRIEVAL_SERVICE = 'select.retrieval.v1.RetrievalService';
export const RETRIEVAL_BANK_SCHEME = 'retrieval://';
/** The retrieval service's index names (packages/vector-index). */
const INDEX_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** The retrieval service answers at most this many neighbours per query (vector-index SEARCH_LIMITS.maxK). */
export const RETRIEVAL_MAX_K = 10_000;
/** Evaluation features per Search call: 256 x k 200 compact neighbours is about 2.5 MB of answer. */
const QUERIES_PER_SEARCH = 256;
const SEARCH_DEADLINE_MS = 300_000;
const INFO_DEADLINE_MS = 30_000;

/** The index name of a `retrieval://<index>` bank URI; undefined for any other URI. */
export function retrievalBankIndex(bankUri: string): string | undefined {
  if (!bankUri.startsWith(RETRIEVAL_BANK_SCHEME)) return undefined;
  const index = bankUri.slice(RETRIEVAL_BANK_SCHEME.length);
  if (!INDEX_NAME.test(index)) {
    throw ServiceError.invalidArgument(`bank_uri ${JSON.stringify(bankUri)}: "retrieval://" must be followed by an index name (letters, digits, ".", "_", "-"), e.g. the trainer's artifact_uri retrieval://knn-bank-<run id>`);
  }
  return index;
}

export interface RetrievalBankInfo {
  index: string;
  dimension: number;
  size: number;
  metric: 'METRIC_COSINE' | 'METRIC_INNER_PRODUCT';
}

/** Neighbours of a block of queries, best first, as bank ids. */
export interface BankNeighbours {
  ids: string[][];
  scores: Float32Array[];
}

export interface RetrievalBank {
  /** The index behind a bank: NOT_FOUND when it does not exist, FAILED_PRECONDITION when it cannot be a kNN bank. */
  describe(index: string, signal?: AbortSignal): Promise<RetrievalBankInfo>;
  /** The `k` nearest bank vectors of every row of `queries` (exact), in blocks; `onBlock` after each. */
  search(index: string, queries: Matrix, k: number, options: { signal?: AbortSignal; onBlock?: (done: number) => void }): Promise<BankNeighbours>;
  /** The metadata of the given bank ids (every id must exist); `probe` is any vector of the index's dimension. */
  metadata(index: string, ids: readonly string[], probe: Float32Array, signal?: AbortSignal): Promise<Map<string, Record<string, string>>>;
  close(): void;
}

function asBuffer(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

export class GrpcRetrievalBank implements RetrievalBank {
  #client: GenericServiceClient | undefined;

  constructor(private readonly address: string | undefined) {}

  /** FAILED_PRECONDITION, with what to set, when no retrieval service is configured. */
  #connect(): GenericServiceClient {
    if (!this.address) {
      throw ServiceError.failedPrecondition(
        'bank_uri names a retrieval:// bank but this evaluator has no retrieval service: set EVALUATOR_RETRIEVAL_ADDRESS to the host:port of the retrieval service the trainer stored the bank in (TRAINER_RETRIEVAL_ADDRESS), or give the bank directory <run>/bank instead',
      );
    }
    this.#client ??= createGrpcClient<GenericServiceClient>(packageDefinition('retrieval'), RETRIEVAL_SERVICE, this.address, { defaultDeadlineMs: 0, idempotentMethods: ['Search', 'GetStats'] });
    return this.#client;
  }

  /** Maps a failed call to a status a caller of the evaluator can act on. */
  #failure(error: unknown, index: string): unknown {
    if (!(error instanceof GrpcCallError)) return error;
    if (error.code === status.NOT_FOUND) {
      return ServiceError.notFound(`retrieval index ${index} does not exist at ${this.address}: give the artifact_uri of a succeeded knn-bank run of the trainer that stores its banks there (retrieval://<index>)`, { cause: error });
    }
    if (error.code === status.UNAVAILABLE || error.code === status.DEADLINE_EXCEEDED) {
      return ServiceError.unavailable(`retrieval service at ${this.address} did not answer (${error.serverMessage || error.message}); is it running (EVALUATOR_RETRIEVAL_ADDRESS)?`, { cause: error });
    }
    return ServiceError.failedPrecondition(`retrieval service at ${this.address}, index ${index}: ${error.serverMessage || error.message}`, { cause: error });
  }

  async describe(index: string, signal?: AbortSignal): Promise<RetrievalBankInfo> {
    const client = this.#connect();
    let info: retrievalV1.IndexInfo__Output;
    try {
      info = await unary<retrievalV1.IndexInfo__Output>(client, 'GetStats', { name: index }, { deadlineMs: INFO_DEADLINE_MS, ...(signal ? { signal } : {}) });
    } catch (error) {
      throw this.#failure(error, index);
    }
    if (info.metric !== 'METRIC_COSINE' && info.metric !== 'METRIC_INNER_PRODUCT') {
      throw ServiceError.failedPrecondition(`retrieval index ${index} uses ${info.metric}: SELECT's kNN votes with cosine similarities, so a bank index must use METRIC_COSINE (as the trainer's knn-bank run creates it) or METRIC_INNER_PRODUCT over L2-normalised vectors`);
    }
    const size = Number(info.size);
    if (size === 0) throw ServiceError.failedPrecondition(`retrieval index ${index} holds no vectors: the knn-bank run that fills it has not finished`);
    return { index, dimension: info.dimension, size, metric: info.metric };
  }

  async search(index: string, queries: Matrix, k: number, options: { signal?: AbortSignal; onBlock?: (done: number) => void }): Promise<BankNeighbours> {
    const client = this.#connect();
    const ids: string[][] = [];
    const scores: Float32Array[] = [];
    for (let start = 0; start < queries.rows; start += QUERIES_PER_SEARCH) {
      options.signal?.throwIfAborted();
      const end = Math.min(queries.rows, start + QUERIES_PER_SEARCH);
      const block: Array<{ vectorF32: Buffer }> = [];
      for (let q = start; q < end; q++) block.push({ vectorF32: asBuffer(queries.data.subarray(q * queries.cols, (q + 1) * queries.cols)) });
      let response: retrievalV1.SearchResponse__Output;
      try {
        response = await unary<retrievalV1.SearchResponse__Output>(
          client,
          'Search',
          { index, queries: block, k, exact: true, compact: true },
          { deadlineMs: SEARCH_DEADLINE_MS, ...(options.signal ? { signal: options.signal } : {}) },
        );
      } catch (error) {
        if (options.signal?.aborted) throw options.signal.reason;
        throw this.#failure(error, index);
      }
      if (response.results.length !== block.length) {
        throw ServiceError.failedPrecondition(`retrieval index ${index} answered ${response.results.length} of ${block.length} queries`);
      }
      for (const r of response.results) {
        ids.push(r.ids);
        scores.push(Float32Array.from(r.scores));
      }
      options.onBlock?.(end);
    }
    return { ids, scores };
  }

  async metadata(index: string, ids: readonly string[], probe: Float32Array, signal?: AbortSignal): Promise<Map<string, Record<string, string>>> {
    const client = this.#connect();
    const out = new Map<string, Record<string, string>>();
    for (let start = 0; start < ids.length; start += RETRIEVAL_MAX_K) {
      const chunk = ids.slice(start, start + RETRIEVAL_MAX_K);
      let response: retrievalV1.SearchResponse__Output;
      try {
        // one probe, only these ids admitted, as many neighbours as ids: every one comes back with its metadata
        response = await unary<retrievalV1.SearchResponse__Output>(
          client,
          'Search',
          { index, queries: [{ vectorF32: asBuffer(probe) }], k: chunk.length, exact: true, includeMetadata: true, filter: { allowIds: chunk, denyIds: [], metadataEquals: {} } },
          { deadlineMs: SEARCH_DEADLINE_MS, ...(signal ? { signal } : {}) },
        );
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        throw this.#failure(error, index);
      }
      for (const n of response.results[0]?.neighbors ?? []) out.set(n.id, n.metadata ?? {});
    }
    const missing = ids.find((id) => !out.has(id));
    if (missing !== undefined) throw ServiceError.failedPrecondition(`retrieval index ${index} changed during the evaluation: bank vector ${missing} is gone`);
    return out;
  }

  close(): void {
    this.#client?.close();
    this.#client = undefined;
  }
}

/** INVALID_ARGUMENT: the bank's vectors and the encoder's features have different dimensions. */
export function dimensionMismatch(info: RetrievalBankInfo, featureDimension: number, encoderModel: string): ServiceError {
  const encoder = encoderModel ? `encoder_model ${encoderModel}` : 'the default encoder';
  return ServiceError.invalidArgument(
    `retrieval index ${info.index} holds ${info.dimension}-d bank vectors but ${encoder} gives ${featureDimension}-d features: the bank was built with another encoder; give the embedding model the trainer's knn-bank run used (its embedding_model)`,
  );
}

/**
 * The k nearest bank vectors of every query, with the class of each: bank ids become rows of `bankLabels` (in the
 * order first seen), so the result feeds the same KnnAccumulator as a bank held in memory. A neighbour's class is
 * its metadata `wnid` (the label space's index of it), else its `class_index`.
 */
export async function searchRetrievalBank(
  bank: RetrievalBank,
  info: RetrievalBankInfo,
  queries: Matrix,
  k: number,
  wnids: readonly string[],
  options: { signal?: AbortSignal; onBlock?: (done: number) => void; encoderModel?: string },
): Promise<{ neighbours: TopKResult; bankLabels: Int32Array; distinct: number }> {
  if (queries.cols !== info.dimension) throw dimensionMismatch(info, queries.cols, options.encoderModel ?? '');
  const kk = Math.min(k, info.size, RETRIEVAL_MAX_K);
  const found = await bank.search(info.index, queries, kk, options);
  const row = new Map<string, number>();
  const indices = new Int32Array(queries.rows * kk);
  const values = new Float32Array(queries.rows * kk);
  for (let q = 0; q < queries.rows; q++) {
    const ids = found.ids[q]!;
    if (ids.length < kk) {
      throw ServiceError.failedPrecondition(`retrieval index ${info.index} gave ${ids.length} neighbours of ${kk} asked for query ${q}: vectors were removed during the evaluation`);
    }
    for (let j = 0; j < kk; j++) {
      const id = ids[j]!;
      let r = row.get(id);
      if (r === undefined) row.set(id, (r = row.size));
      indices[q * kk + j] = r;
      values[q * kk + j] = found.scores[q]![j]!;
    }
  }
  const ids = [...row.keys()];
  const metadata = await bank.metadata(info.index, ids, queries.data.subarray(0, queries.cols), options.signal);
  const wnidIndex = new Map(wnids.map((w, i) => [w, i]));
  const bankLabels = new Int32Array(ids.length);
  ids.forEach((id, r) => {
    const m = metadata.get(id)!;
    let label: number | undefined;
    if (m['wnid'] !== undefined) {
      label = wnidIndex.get(m['wnid']);
      if (label === undefined) throw ServiceError.failedPrecondition(`retrieval index ${info.index}: bank vector ${id} has wnid ${JSON.stringify(m['wnid'])}, which is not an ImageNet-1k class`);
    } else if (m['class_index'] !== undefined && /^\d+$/.test(m['class_index']) && Number(m['class_index']) < wnids.length) {
      label = Number(m['class_index']);
    }
    if (label === undefined) {
      throw ServiceError.failedPrecondition(
        `retrieval index ${info.index}: bank vector ${id} carries no class (metadata wnid, or class_index in [0, ${wnids.length})); store a bank with the trainer's knn-bank run`,
      );
    }
    bankLabels[r] = label;
  });
  return { neighbours: { values, indices, k: kk }, bankLabels, distinct: ids.length };
}
