import { ServiceError, type CallContext } from '@select/platform';
import type { IndexCatalog, QueryNeighbors, SearchFilter } from '@select/vector-index';
import { mapErrors } from './errors.js';
import type { FilterMsg, QueryMsg, RangeSearchRequest, SearchRequest, SearchResponse } from './rpc-types.js';
import type { SearchGate } from './search-gate.js';
import { decodeVector } from './vector-codec.js';

/** The queries of a request as one flat matrix; each must have the index's dimension. */
export function flattenQueries(queries: readonly QueryMsg[], dimension: number): Float32Array {
  if (queries.length === 0) throw ServiceError.invalidArgument('queries must not be empty');
  const out = new Float32Array(queries.length * dimension);
  queries.forEach((query, q) => {
    const vector = decodeVector(query);
    if (typeof vector === 'string') throw ServiceError.invalidArgument(`query ${q}: ${vector}`, { details: { query: q } });
    if (vector.length !== dimension) {
      throw ServiceError.invalidArgument(`query ${q} has ${vector.length} components; the index has dimension ${dimension}`, {
        details: { query: q },
      });
    }
    out.set(vector, q * dimension);
  });
  return out;
}

function filterFromProto(filter: FilterMsg | null | undefined): SearchFilter | undefined {
  if (!filter) return undefined;
  return {
    allowIds: filter.allowIds,
    denyIds: filter.denyIds,
    metadataEquals: filter.metadataEquals ?? {},
  };
}

function toResponse(results: QueryNeighbors[], request: { includeMetadata: boolean; compact: boolean }): SearchResponse {
  if (request.compact) {
    return {
      results: results.map((r) => ({
        neighbors: [],
        truncated: r.truncated,
        ids: r.neighbors.map((n) => n.id),
        scores: r.neighbors.map((n) => n.score),
      })),
    };
  }
  return {
    results: results.map((r) => ({
      neighbors: r.neighbors.map((n) => ({
        id: n.id,
        score: n.score,
        metadata: request.includeMetadata && n.metadata ? { ...n.metadata } : {},
      })),
      truncated: r.truncated,
      ids: [],
      scores: [],
    })),
  };
}

function checkLayout(request: { includeMetadata: boolean; compact: boolean }): void {
  if (request.compact && request.includeMetadata) {
    throw ServiceError.invalidArgument('compact results carry no metadata: set include_metadata or compact, not both');
  }
}

/** Search: k nearest per query, approximate (HNSW) unless `exact`; allow/deny/metadata filters. */
export function searchHandler(catalog: IndexCatalog, gate: SearchGate) {
  return (request: SearchRequest, ctx: CallContext): Promise<SearchResponse> =>
    mapErrors(async () => {
      checkLayout(request);
      const index = catalog.get(request.index);
      const queries = flattenQueries(request.queries, index.spec.dimension);
      if (!request.k) throw ServiceError.invalidArgument('k must be at least 1', { details: { field: 'k' } });
      const results = await gate.run(
        () =>
          index.search(queries, {
            k: request.k,
            exact: request.exact,
            efSearch: request.efSearch,
            filter: filterFromProto(request.filter),
            signal: ctx.signal,
          }),
        ctx.signal,
      );
      return toResponse(results, request);
    });
}

/** RangeSearch: every neighbour scoring at least `min_similarity`, up to `max_results` per query. */
export function rangeSearchHandler(catalog: IndexCatalog, gate: SearchGate) {
  return (request: RangeSearchRequest, ctx: CallContext): Promise<SearchResponse> =>
    mapErrors(async () => {
      checkLayout(request);
      const index = catalog.get(request.index);
      const queries = flattenQueries(request.queries, index.spec.dimension);
      const results = await gate.run(
        () =>
          index.rangeSearch(queries, {
            minScore: request.minSimilarity,
            ...(request.maxResults ? { maxResults: request.maxResults } : {}),
            exact: request.exact,
            efSearch: request.efSearch,
            filter: filterFromProto(request.filter),
            signal: ctx.signal,
          }),
        ctx.signal,
      );
      return toResponse(results, request);
    });
}
