import type { GrpcClientOptions, UnaryCallOptions } from '@select/platform';
import {
  RetrievalClient,
  type CreateIndexInput,
  type RangeSearchInput,
  type SearchInput,
  type VectorInput,
  type AddVectorsResponse,
  type IndexInfo,
  type NeighborMsg,
  type QueryResultMsg,
  type SearchResponse,
} from './retrieval-client.js';

/** FNV-1a (32-bit) of the id's UTF-16 code units: stable across processes and languages that copy it. */
export function shardOf(id: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    hash ^= id.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % shards;
}

/** Best first; equal scores by id, so that the merge does not depend on which shard answered first. */
function byScoreThenId(a: NeighborMsg, b: NeighborMsg): number {
  return b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function neighborsOf(result: QueryResultMsg | undefined): NeighborMsg[] {
  if (!result) return [];
  if (result.neighbors.length > 0 || result.ids.length === 0) return result.neighbors;
  return result.ids.map((id, i) => ({ id, score: result.scores[i]!, metadata: {} }));
}

/**
 * Per query, the best `limit` of all shards' lists, in the layout that was asked for (compact or not);
 * `range`: flag queries where some were cut off.
 */
function mergeResults(responses: SearchResponse[], limit: number, range: boolean, compact: boolean): SearchResponse {
  const queries = responses[0]?.results.length ?? 0;
  const results: QueryResultMsg[] = [];
  for (let q = 0; q < queries; q++) {
    const all = responses.flatMap((r) => neighborsOf(r.results[q])).sort(byScoreThenId);
    const truncated = range && (all.length > limit || responses.some((r) => r.results[q]?.truncated === true));
    const best = all.slice(0, limit);
    results.push(
      compact
        ? { neighbors: [], truncated, ids: best.map((n) => n.id), scores: best.map((n) => n.score) }
        : { neighbors: best, truncated, ids: [], scores: [] },
    );
  }
  return { results };
}

export interface ShardedAddOptions {
  /** Vectors sent to one shard per AddVectors stream. @default 8192 */
  chunkSize?: number;
}

/**
 * One logical index split across N retrieval service instances. Every id lives on shard
 * `fnv1a(id) % N`, so adds, upserts and removes of an id always reach the same instance; a search goes to
 * every shard and the per-shard top-k lists are merged into the global top-k (each shard returns its own
 * best k, so the best k overall are among them: an exact search gives exactly what one index would).
 * The shard list is fixed for the life of an index: changing N moves ids between shards.
 */
export class ShardedRetrievalClient {
  readonly shards: readonly RetrievalClient[];

  constructor(addresses: readonly string[], options: GrpcClientOptions = {}) {
    if (addresses.length === 0) throw new Error('ShardedRetrievalClient needs at least one address');
    this.shards = addresses.map((address) => new RetrievalClient(address, options));
  }

  /** Creates the index on every shard. */
  async createIndex(input: CreateIndexInput, options?: UnaryCallOptions): Promise<IndexInfo> {
    const infos = await Promise.all(this.shards.map((s) => s.createIndex(input, options)));
    return sumInfos(infos);
  }

  async addVectors(
    index: string,
    items: Iterable<VectorInput> | AsyncIterable<VectorInput>,
    options: ShardedAddOptions = {},
  ): Promise<AddVectorsResponse> {
    const chunkSize = options.chunkSize ?? 8192;
    const buckets: VectorInput[][] = this.shards.map(() => []);
    const total: AddVectorsResponse = { added: '0', replaced: '0', errors: [] };
    const send = async (shard: number) => {
      const batch = buckets[shard]!;
      buckets[shard] = [];
      if (batch.length === 0) return;
      const response = await this.shards[shard]!.addVectors(index, batch);
      total.added = String(Number(total.added) + Number(response.added));
      total.replaced = String(Number(total.replaced) + Number(response.replaced));
      total.errors.push(...response.errors);
    };
    for await (const item of items) {
      const shard = shardOf(item.id, this.shards.length);
      buckets[shard]!.push(item);
      if (buckets[shard]!.length >= chunkSize) await send(shard);
    }
    await Promise.all(this.shards.map((_, shard) => send(shard)));
    return total;
  }

  async removeIds(index: string, ids: readonly string[], options?: UnaryCallOptions): Promise<number> {
    const byShard: string[][] = this.shards.map(() => []);
    for (const id of ids) byShard[shardOf(id, this.shards.length)]!.push(id);
    const removed = await Promise.all(
      byShard.map((shardIds, shard) => (shardIds.length > 0 ? this.shards[shard]!.removeIds(index, shardIds, options) : 0)),
    );
    return removed.reduce((a, b) => a + b, 0);
  }

  async search(input: SearchInput, options?: UnaryCallOptions): Promise<SearchResponse> {
    const responses = await Promise.all(this.shards.map((s) => s.search(input, options)));
    return mergeResults(responses, input.k, false, input.compact ?? false);
  }

  async rangeSearch(input: RangeSearchInput, options?: UnaryCallOptions): Promise<SearchResponse> {
    const responses = await Promise.all(this.shards.map((s) => s.rangeSearch(input, options)));
    return mergeResults(responses, input.maxResults || 1000, true, input.compact ?? false);
  }

  /** Stats of the whole index: sizes summed over shards. */
  async getStats(name: string, options?: UnaryCallOptions): Promise<IndexInfo> {
    return sumInfos(await Promise.all(this.shards.map((s) => s.getStats(name, options))));
  }

  async snapshot(name: string, options?: UnaryCallOptions): Promise<IndexInfo> {
    return sumInfos(await Promise.all(this.shards.map((s) => s.snapshot(name, options))));
  }

  async dropIndex(name: string, options?: UnaryCallOptions): Promise<boolean> {
    const dropped = await Promise.all(this.shards.map((s) => s.dropIndex(name, options)));
    return dropped.some(Boolean);
  }

  close(): void {
    for (const shard of this.shards) shard.close();
  }
}

function sumInfos(infos: IndexInfo[]): IndexInfo {
  const sum = (field: 'size' | 'memoryBytes' | 'logEntriesSinceSnapshot') =>
    String(infos.reduce((total, info) => total + Number(info[field]), 0));
  return {
    ...infos[0]!,
    size: sum('size'),
    memoryBytes: sum('memoryBytes'),
    logEntriesSinceSnapshot: sum('logEntriesSinceSnapshot'),
    // The oldest shard snapshot bounds how much log a restart of the whole index replays.
    lastSnapshotUnixMs: String(Math.min(...infos.map((info) => Number(info.lastSnapshotUnixMs)))),
  };
}
