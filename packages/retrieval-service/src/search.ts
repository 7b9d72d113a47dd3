import { ServiceError, type CallContext } from '@select/platform';
import type { retrievalV1 } from '@select/contracts';
import type { FlatNeighbors, IndexCatalog, PersistentIndex, QueryNeighbors, RangeSearchOptions, SearchFilter } from '@select/vector-index';
import { mapErrors } from './errors.js';
import type { SearchGate } from './search-gate.js';
import { encodeFlatResponse, type QueryMatrix, type SearchResponseOut, type WithQueryMatrix } from './search-codec.js';

/** The queries of a request as one flat matrix, once each is checked to have the index's dimension. */
export function flattenQueries(queries: QueryMatrix, dimension: number): Float32Array {
  if (queries.problem) {
    const { query, message } = queries.problem;
    throw ServiceError.invalidArgument(`query ${query}: ${message}`, { details: { query } });
  }
  if (queries.lengths.length === 0) throw ServiceError.invalidArgument('queries must not be empty');
  const q = queries.lengths.findIndex((n) => n !== dimension);
  if (q >= 0) {
    throw ServiceError.invalidArgument(`query ${q} has ${queries.lengths[q]} components; the index has dimension ${dimension}`, {
      details: { query: q },
    });
  }
  return queries.values;
}

function filterFromProto(filter: retrievalV1.Filter__Output | null): SearchFilter | undefined {
  if (!filter) return undefined;
  return {
    allowIds: filter.allowIds,
    denyIds: filter.denyIds,
    metadataEquals: filter.metadataEquals ?? {},
  };
}

function toResponse(results: QueryNeighbors[], request: { includeMetadata: boolean }): SearchResponseOut {
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

type QueryRequest = WithQueryMatrix<retrievalV1.SearchRequest__Output> | WithQueryMatrix<retrievalV1.RangeSearchRequest__Output>;

/** One kind of search, with results as objects (for Neighbor messages) or flat (for compact responses). */
interface SearchKind<R> {
  objects: (index: PersistentIndex, queries: Float32Array, request: R, common: CommonOptions) => Promise<QueryNeighbors[]>;
  flat: (index: PersistentIndex, queries: Float32Array, request: R, common: CommonOptions) => Promise<FlatNeighbors>;
}

/**
 * What Search and RangeSearch share: the checks, the index, the query matrix, a slot at the gate, and
 * the response; `check` validates the request's own fields (before it waits for a slot) and `search`
 * runs its kind of search. Compact responses are written to bytes here, from flat results (see
 * encodeFlatResponse); the service definition sends such bytes as they are.
 */
function queryHandler<R extends QueryRequest>(
  catalog: IndexCatalog,
  gate: SearchGate,
  check: (request: R) => void,
  search: SearchKind<R>,
) {
  return (request: R, ctx: CallContext): Promise<SearchResponseOut | Buffer> =>
    mapErrors(async () => {
      if (request.compact && request.includeMetadata) {
        throw ServiceError.invalidArgument('compact results carry no metadata: set include_metadata or compact, not both');
      }
      const index = catalog.get(request.index);
      const queries = flattenQueries(request.queries, index.spec.dimension);
      check(request);
      const common = { exact: request.exact, efSearch: request.efSearch, filter: filterFromProto(request.filter), signal: ctx.signal };
      if (request.compact) {
        return encodeFlatResponse(await gate.run(() => search.flat(index, queries, request, common), ctx.signal));
      }
      return toResponse(await gate.run(() => search.objects(index, queries, request, common), ctx.signal), request);
    });
}

interface CommonOptions {
  exact: boolean;
  efSearch: number;
  filter: SearchFilter | undefined;
  signal: AbortSignal;
}

/** Search: k nearest per query, approximate (HNSW) unless `exact`; allow/deny/metadata filters. */
export function searchHandler(catalog: IndexCatalog, gate: SearchGate) {
  return queryHandler<WithQueryMatrix<retrievalV1.SearchRequest__Output>>(
    catalog,
    gate,
    (request) => {
      if (!request.k) throw ServiceError.invalidArgument('k must be at least 1', { details: { field: 'k' } });
    },
    {
      objects: (index, queries, request, common) => index.search(queries, { ...common, k: request.k }),
      flat: (index, queries, request, common) => index.searchFlat(queries, { ...common, k: request.k }),
    },
  );
}

/** RangeSearch: every neighbour scoring at least `min_similarity`, up to `max_results` per query. */
export function rangeSearchHandler(catalog: IndexCatalog, gate: SearchGate) {
  return queryHandler<WithQueryMatrix<retrievalV1.RangeSearchRequest__Output>>(
    catalog,
    gate,
    () => undefined,
    {
      objects: (index, queries, request, common) => index.rangeSearch(queries, rangeOptions(request, common)),
      flat: (index, queries, request, common) => index.rangeSearchFlat(queries, rangeOptions(request, common)),
    },
  );
}

function rangeOptions(request: WithQueryMatrix<retrievalV1.RangeSearchRequest__Output>, common: CommonOptions): RangeSearchOptions {
  return {
    ...common,
    minScore: request.minSimilarity,
    ...(request.maxResults ? { maxResults: request.maxResults } : {}),
  };
}
