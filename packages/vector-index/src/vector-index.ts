import { availableParallelism } from 'node:os';
import { invalidArgument, VectorIndexError } from './errors.js';
import type { IndexSpec } from './index-spec.js';
import { MetadataStore, metadataProblem, type Metadata } from './metadata-store.js';
import { createNativeIndex, type NativeIndex, type NativeResults, type NativeSearchOptions } from './native-binding.js';

export const SEARCH_LIMITS = {
  /** Largest k of a search. */
  maxK: 10_000,
  /** Most query vectors in one call. */
  maxQueries: 65_536,
  /** Most neighbours a range search returns per query. */
  maxRangeResults: 100_000,
  /** Neighbours a range search returns per query when the caller sets no limit. */
  defaultRangeResults: 1_000,
  /** Longest id, in UTF-16 units. */
  maxIdLength: 1_024,
} as const;

/** Below this many searchable vectors a search is exact whatever was asked: it is as fast and never misses. */
const EXACT_BELOW = 2_048;
/** A filter that admits at most this share of the index (or EXACT_BELOW vectors) is searched exactly. */
const EXACT_FILTER_SHARE = 0.05;
/** Queries per native call: small enough to notice a cancelled call between chunks. */
const ANN_CHUNK = 1_024;
/** Exact calls re-read every stored vector, so they take bigger chunks. */
const EXACT_CHUNK = 2_048;

export interface AddItem {
  id: string;
  vector: Float32Array | readonly number[];
  metadata?: Metadata;
}

/** A validated add, with keys assigned: what the log records and what `apply` puts into the graph. */
export interface AddBatch {
  readonly keys: readonly number[];
  readonly ids: readonly string[];
  readonly metadata: readonly (Metadata | undefined)[];
  /** keys.length x dimension, already normalised for cosine. */
  readonly vectors: Float32Array;
}

/** One item that was not added, and why; the rest of the batch goes on. */
export interface ItemProblem {
  /** Position of the item in the batch. */
  index: number;
  id: string;
  message: string;
}

export interface SearchFilter {
  /** Search only these ids (unknown ids are ignored). */
  allowIds?: readonly string[];
  /** Never return these ids. */
  denyIds?: readonly string[];
  /** Search only vectors whose metadata has every one of these field = value pairs. */
  metadataEquals?: Metadata;
}

export interface SearchOptions {
  /** Neighbours per query, 1..SEARCH_LIMITS.maxK. */
  k: number;
  /** Brute force over every (allowed) vector; the ground truth. @default false */
  exact?: boolean;
  /** Graph candidates explored per query. @default the index's efSearch */
  efSearch?: number;
  filter?: SearchFilter;
  /** Cancels between chunks of queries. */
  signal?: AbortSignal;
  /**
   * Exact search only: the kernel to run, one of `exactKernels()` (tests and benchmarks compare them);
   * unset: the fastest this CPU runs. Every kernel returns the same neighbours up to float rounding.
   */
  exactKernel?: string;
}

export interface RangeSearchOptions {
  /** Keep neighbours whose score is >= this (cosine: similarity; l2: negative squared distance). */
  minScore: number;
  /** Per query, 1..SEARCH_LIMITS.maxRangeResults. @default SEARCH_LIMITS.defaultRangeResults */
  maxResults?: number;
  /** @default false: candidates come from the graph (explored breadth = max(efSearch, maxResults)). */
  exact?: boolean;
  efSearch?: number;
  filter?: SearchFilter;
  signal?: AbortSignal;
  /** As in SearchOptions. */
  exactKernel?: string;
}

export interface Neighbor {
  id: string;
  /** Larger is nearer (see Metric). */
  score: number;
  metadata: Metadata | undefined;
}

export interface QueryNeighbors {
  neighbors: Neighbor[];
  /** Range search only: maxResults was reached, so more neighbours may lie above minScore. */
  truncated: boolean;
}

/**
 * Results of a batch in flat arrays, as a server writes them out: no object per neighbour. Query q owns
 * entries offsets[q] .. offsets[q + 1] of `ids` and `scores`, best first.
 */
export interface FlatNeighbors {
  ids: string[];
  scores: Float32Array;
  offsets: Uint32Array;
  /** Range search only: per query, 1 when maxResults was reached (more neighbours may lie above minScore). */
  truncated: Uint8Array;
}

/** Results by key, before ids (and metadata) are attached; removed keys already dropped. */
interface KeyedResults {
  keys: number[];
  scores: number[];
  offsets: number[];
  truncated: boolean[];
}

export interface VectorIndexOptions {
  /** Native threads per search or add. @default os.availableParallelism() */
  threads?: number;
}

interface ResolvedFilter {
  mask: Uint8Array;
  invert: boolean;
  /** How many stored vectors the filter admits. */
  admitted: number;
}

/**
 * usearch's link counts for a spec's HNSW M, chosen to build FAISS's (and hnswlib's) base level: a new node
 * links to up to 2M neighbours there (usearch's own default links it to M and lets reverse links fill the
 * list up to 2M) and a base-level node keeps at most 2M. Above the base level usearch then also uses 2M
 * (FAISS: M); those levels hold about 1 node in 2M and only steer the descent. Measured at 1,000,000 × 512
 * (tools/bench/retrieval data, M 16, efConstruction 128): recall@10 0.9449 / 0.9542 / 0.9624 at ef 40 / 44 / 48
 * with usearch's default, 0.9477 / 0.9572 / 0.9649 at ef 36 / 40 / 44 with this, for about the same CPU per
 * query at equal ef, so the 0.95 target is reached at a ~10 % smaller ef. Memory is unchanged (the base
 * lists had room for 2M before too). Indexes saved before keep the link counts in their own header.
 */
export function graphConnectivity(m: number): { connectivity: number; connectivityBase: number } {
  return { connectivity: 2 * m, connectivityBase: 2 * m };
}

/**
 * One HNSW index (usearch) plus its exact search, keyed by string ids, with per-vector metadata.
 * In memory only: `PersistentIndex` adds the log and snapshots. Mutations must not overlap each other
 * (the caller serialises them); searches may run alongside anything.
 */
export class VectorIndex {
  readonly spec: IndexSpec;
  private readonly native: NativeIndex;
  private readonly threads: number;
  private readonly keyById = new Map<string, number>();
  /** Sparse: removed and replaced keys are never reused. */
  private readonly idByKey: (string | undefined)[] = [];
  private readonly metadataStore = new MetadataStore();
  private keyCount = 0;

  constructor(spec: IndexSpec, options: VectorIndexOptions = {}) {
    this.spec = spec;
    this.threads = Math.max(1, options.threads ?? availableParallelism());
    this.native = createNativeIndex({
      dimensions: spec.dimension,
      metric: spec.metric === 'l2' ? 'l2sq' : 'ip',
      quantization: spec.quantization === 'none' ? 'f32' : spec.quantization,
      ...graphConnectivity(spec.connectivity),
      expansionAdd: spec.efConstruction,
    });
  }

  /** Vectors stored. */
  get size(): number {
    return this.keyById.size;
  }

  /** The next key to assign; persisted so that keys are never reused after a restart. */
  get nextKey(): number {
    return this.keyCount;
  }

  has(id: string): boolean {
    return this.keyById.has(id);
  }

  /** Bytes held by the graph and its vectors (not counting the id map). */
  memoryBytes(): number {
    return this.native.memoryUsage();
  }

  simd(): { graph: string; exact: string } {
    return this.native.isa();
  }

  /**
   * Validates a batch and assigns keys. Bad items are returned as problems and left out; an id that is
   * already stored (or repeated in the batch) is an upsert: the later vector replaces the earlier one.
   */
  prepareAdd(items: readonly AddItem[]): { batch: AddBatch; problems: ItemProblem[] } {
    const d = this.spec.dimension;
    const keys: number[] = [];
    const ids: string[] = [];
    const metadata: (Metadata | undefined)[] = [];
    const vectors = new Float32Array(items.length * d);
    const problems: ItemProblem[] = [];
    items.forEach((item, index) => {
      const problem = this.itemProblem(item);
      if (problem) {
        problems.push({ index, id: item.id, message: problem });
        return;
      }
      const row = keys.length;
      vectors.set(item.vector, row * d);
      if (this.spec.metric === 'cosine') normalizeRow(vectors, row, d);
      keys.push(this.keyCount++);
      ids.push(item.id);
      metadata.push(item.metadata && Object.keys(item.metadata).length > 0 ? { ...item.metadata } : undefined);
    });
    return {
      batch: { keys, ids, metadata, vectors: vectors.subarray(0, keys.length * d) },
      problems,
    };
  }

  /** Puts a prepared (or replayed) batch into the graph; returns how many ids were new and how many replaced. */
  async apply(batch: AddBatch): Promise<{ added: number; replaced: number }> {
    if (batch.keys.length === 0) return { added: 0, replaced: 0 };
    const replacedKeys: number[] = [];
    let added = 0;
    // Later rows win when a batch repeats an id; the earlier row's key is dropped right away.
    const lastRow = new Map<string, number>();
    batch.ids.forEach((id, row) => lastRow.set(id, row));
    const rows: number[] = [];
    const seen = new Set<string>();
    batch.ids.forEach((id, row) => {
      const previous = this.keyById.get(id);
      if (previous !== undefined) replacedKeys.push(previous);
      else if (!seen.has(id)) added++;
      seen.add(id);
      if (lastRow.get(id) === row) rows.push(row);
    });
    const replaced = batch.ids.length - added;

    if (replacedKeys.length > 0) await this.native.remove(BigUint64Array.from(replacedKeys, BigInt));
    for (const key of replacedKeys) {
      this.idByKey[key] = undefined;
      this.metadataStore.delete(key);
    }
    const d = this.spec.dimension;
    const keys = new BigUint64Array(rows.length);
    // Without repeated ids every row goes in, and the batch's own matrix can be handed over as it is.
    const everyRow = rows.length === batch.keys.length;
    const vectors = everyRow ? batch.vectors : new Float32Array(rows.length * d);
    rows.forEach((row, i) => {
      const key = batch.keys[row]!;
      const id = batch.ids[row]!;
      keys[i] = BigInt(key);
      if (!everyRow) vectors.set(batch.vectors.subarray(row * d, (row + 1) * d), i * d);
      // Maps first, graph second: a search that sees the new key can always name it.
      this.idByKey[key] = id;
      this.keyById.set(id, key);
      this.metadataStore.set(key, batch.metadata[row]);
    });
    for (const key of batch.keys) this.keyCount = Math.max(this.keyCount, key + 1);
    try {
      await this.native.add(keys, vectors, this.threads);
    } catch (cause) {
      throw new VectorIndexError('INTERNAL', `adding ${rows.length} vectors failed`, { cause });
    }
    return { added, replaced };
  }

  /** Removes ids; unknown ids are ignored. Returns how many were present. */
  async remove(ids: readonly string[]): Promise<number> {
    const keys: number[] = [];
    for (const id of new Set(ids)) {
      const key = this.keyById.get(id);
      if (key === undefined) continue;
      keys.push(key);
      this.keyById.delete(id);
    }
    if (keys.length === 0) return 0;
    await this.native.remove(BigUint64Array.from(keys, BigInt));
    for (const key of keys) {
      this.idByKey[key] = undefined;
      this.metadataStore.delete(key);
    }
    return keys.length;
  }

  /** The k nearest stored vectors of each query (queries: n x dimension, flat). */
  async search(queries: Float32Array, options: SearchOptions): Promise<QueryNeighbors[]> {
    return this.toNeighbors(await this.searchKeys(queries, options));
  }

  /** `search`, with the results in flat arrays and without metadata: what a server puts on the wire. */
  async searchFlat(queries: Float32Array, options: SearchOptions): Promise<FlatNeighbors> {
    return this.toFlat(await this.searchKeys(queries, options));
  }

  /** Every stored vector scoring >= minScore against each query, best first, up to maxResults. */
  async rangeSearch(queries: Float32Array, options: RangeSearchOptions): Promise<QueryNeighbors[]> {
    return this.toNeighbors(await this.rangeSearchKeys(queries, options));
  }

  /** `rangeSearch`, with the results in flat arrays and without metadata. */
  async rangeSearchFlat(queries: Float32Array, options: RangeSearchOptions): Promise<FlatNeighbors> {
    return this.toFlat(await this.rangeSearchKeys(queries, options));
  }

  private searchKeys(queries: Float32Array, options: SearchOptions): Promise<KeyedResults> {
    const k = options.k;
    if (!Number.isInteger(k) || k < 1 || k > SEARCH_LIMITS.maxK) {
      throw invalidArgument(`k must be an integer from 1 to ${SEARCH_LIMITS.maxK}, got ${k}`, { field: 'k' });
    }
    const ef = this.efSearch(options.efSearch);
    const prepared = this.prepareQueries(queries);
    const filter = this.resolveFilter(options.filter);
    return this.runSearch(prepared, {
      capacity: k,
      exact: options.exact ?? false,
      ef,
      filter,
      signal: options.signal,
      rangeLimit: undefined,
      exactKernel: options.exactKernel,
    });
  }

  private rangeSearchKeys(queries: Float32Array, options: RangeSearchOptions): Promise<KeyedResults> {
    const maxResults = options.maxResults ?? SEARCH_LIMITS.defaultRangeResults;
    if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > SEARCH_LIMITS.maxRangeResults) {
      throw invalidArgument(`max_results must be an integer from 1 to ${SEARCH_LIMITS.maxRangeResults}, got ${maxResults}`, {
        field: 'maxResults',
      });
    }
    if (!Number.isFinite(options.minScore)) throw invalidArgument('min_similarity must be a finite number');
    const ef = this.efSearch(options.efSearch);
    const prepared = this.prepareQueries(queries);
    const filter = this.resolveFilter(options.filter);
    return this.runSearch(prepared, {
      capacity: maxResults,
      exact: options.exact ?? false,
      ef,
      filter,
      signal: options.signal,
      rangeLimit: options.minScore,
      exactKernel: options.exactKernel,
    });
  }

  /** Every stored entry, for snapshots: key, id and metadata. */
  *entries(): Generator<{ key: number; id: string; metadata: Metadata | undefined }> {
    for (const [id, key] of this.keyById) yield { key, id, metadata: this.metadataStore.get(key) };
  }

  /** Writes the graph (and its vectors) to `path`. */
  async saveGraph(path: string): Promise<void> {
    await this.native.save(path);
  }

  /** Replaces the graph with one saved by `saveGraph`, and the id map with `entries` (a snapshot's). */
  async loadGraph(
    path: string,
    entries: Iterable<{ key: number; id: string; metadata: Metadata | undefined }>,
    nextKey: number,
  ): Promise<void> {
    await this.native.load(path);
    this.keyById.clear();
    this.idByKey.length = 0;
    for (const { key, id, metadata } of entries) {
      this.keyById.set(id, key);
      this.idByKey[key] = id;
      this.metadataStore.set(key, metadata);
    }
    this.keyCount = nextKey;
    if (this.native.size() !== this.keyById.size) {
      throw new VectorIndexError(
        'CORRUPT',
        `the graph holds ${this.native.size()} vectors but the id map ${this.keyById.size}`,
      );
    }
  }

  private itemProblem(item: AddItem): string | undefined {
    if (typeof item.id !== 'string' || item.id.length === 0) return 'id must not be empty';
    if (item.id.length > SEARCH_LIMITS.maxIdLength) return `id is longer than ${SEARCH_LIMITS.maxIdLength} characters`;
    const v = item.vector;
    if (v.length !== this.spec.dimension) {
      return `vector has ${v.length} components; the index has dimension ${this.spec.dimension}`;
    }
    let norm = 0;
    for (let i = 0; i < v.length; i++) {
      const x = v[i]!;
      if (!Number.isFinite(x)) return `vector component ${i} is ${x}; NaN and Inf are not allowed`;
      norm += x * x;
    }
    if (this.spec.metric === 'cosine' && norm === 0) return 'a zero vector has no cosine similarity';
    if (item.metadata) return metadataProblem(item.metadata);
    return undefined;
  }

  private efSearch(value: number | undefined): number {
    const ef = value === undefined || value === 0 ? this.spec.efSearch : value;
    if (!Number.isInteger(ef) || ef < 1 || ef > 4096) {
      throw invalidArgument(`ef_search must be an integer from 1 to 4096, got ${ef}`, { field: 'efSearch' });
    }
    return ef;
  }

  private prepareQueries(queries: Float32Array): Float32Array {
    const d = this.spec.dimension;
    if (queries.length === 0) throw invalidArgument('at least one query vector is needed');
    if (queries.length % d !== 0) {
      throw invalidArgument(`query vectors must have ${d} components each`, { field: 'queries' });
    }
    const n = queries.length / d;
    if (n > SEARCH_LIMITS.maxQueries) {
      throw invalidArgument(`at most ${SEARCH_LIMITS.maxQueries} queries per call, got ${n}`);
    }
    // Only cosine rewrites the queries (normalising them), and only then is the caller's array copied.
    const out = this.spec.metric === 'cosine' ? new Float32Array(queries) : queries;
    for (let q = 0; q < n; q++) {
      let norm = 0;
      for (let i = q * d; i < (q + 1) * d; i++) norm += out[i]! * out[i]!;
      // The sum of squares (in doubles, so no float32 component can overflow it) is finite exactly when
      // every component is: one test per query instead of one per component.
      if (!Number.isFinite(norm)) {
        const at = out.subarray(q * d, (q + 1) * d).findIndex((x) => !Number.isFinite(x));
        throw invalidArgument(`query ${q} component ${at} is ${out[q * d + at]}; NaN and Inf are not allowed`, { query: q });
      }
      if (this.spec.metric === 'cosine') {
        if (norm === 0) throw invalidArgument(`query ${q} is a zero vector, which has no cosine similarity`, { query: q });
        normalizeRow(out, q, d);
      }
    }
    return out;
  }

  private resolveFilter(filter: SearchFilter | undefined): ResolvedFilter | undefined {
    if (!filter) return undefined;
    const allow = filter.allowIds && filter.allowIds.length > 0 ? filter.allowIds : undefined;
    const deny = filter.denyIds && filter.denyIds.length > 0 ? filter.denyIds : undefined;
    const equals = filter.metadataEquals && Object.keys(filter.metadataEquals).length > 0 ? filter.metadataEquals : undefined;
    if (!allow && !deny && !equals) return undefined;
    const mask = new Uint8Array(this.keyCount);
    if (!allow && !equals) {
      let denied = 0;
      for (const id of deny!) {
        const key = this.keyById.get(id);
        if (key !== undefined && mask[key] === 0) {
          mask[key] = 1;
          denied++;
        }
      }
      return { mask, invert: true, admitted: this.size - denied };
    }
    let candidates: Iterable<number>;
    if (equals) {
      const matching = this.metadataStore.matching(equals);
      if (allow) {
        const keys: number[] = [];
        for (const id of allow) {
          const key = this.keyById.get(id);
          if (key !== undefined && matching.has(key)) keys.push(key);
        }
        candidates = keys;
      } else candidates = matching;
    } else {
      const keys: number[] = [];
      for (const id of allow!) {
        const key = this.keyById.get(id);
        if (key !== undefined) keys.push(key);
      }
      candidates = keys;
    }
    let admitted = 0;
    for (const key of candidates) {
      if (mask[key] === 0) {
        mask[key] = 1;
        admitted++;
      }
    }
    if (deny) {
      for (const id of deny) {
        const key = this.keyById.get(id);
        if (key !== undefined && mask[key] === 1) {
          mask[key] = 0;
          admitted--;
        }
      }
    }
    return { mask, invert: false, admitted };
  }

  private async runSearch(
    queries: Float32Array,
    plan: {
      capacity: number;
      exact: boolean;
      ef: number;
      filter: ResolvedFilter | undefined;
      signal: AbortSignal | undefined;
      rangeLimit: number | undefined;
      exactKernel: string | undefined;
    },
  ): Promise<KeyedResults> {
    const d = this.spec.dimension;
    const n = queries.length / d;
    const out: KeyedResults = { keys: [], scores: [], offsets: [0], truncated: [] };
    const admitted = plan.filter ? plan.filter.admitted : this.size;
    if (admitted <= 0) {
      for (let q = 0; q < n; q++) {
        out.offsets.push(0);
        out.truncated.push(false);
      }
      return out;
    }

    const exact =
      plan.exact || admitted <= EXACT_BELOW || (plan.filter !== undefined && admitted <= this.size * EXACT_FILTER_SHARE);
    // A filter hides part of the graph from the walk: explore proportionally more candidates.
    const share = plan.filter ? Math.max(admitted / Math.max(this.size, 1), EXACT_FILTER_SHARE) : 1;
    const breadth = Math.min(4096, Math.ceil(Math.max(plan.ef, plan.capacity) / share));
    const base: Omit<NativeSearchOptions, 'exact' | 'breadth'> = {
      capacity: plan.capacity,
      threads: this.threads,
      ...(plan.rangeLimit === undefined ? {} : { floor: plan.rangeLimit }),
      ...(plan.filter ? { mask: plan.filter.mask, invertMask: plan.filter.invert } : {}),
      ...(plan.exactKernel === undefined ? {} : { exactKernel: plan.exactKernel }),
    };
    const range = plan.rangeLimit !== undefined;

    const chunk = exact ? EXACT_CHUNK : ANN_CHUNK;
    for (let start = 0; start < n; start += chunk) {
      plan.signal?.throwIfAborted();
      const slice = queries.subarray(start * d, Math.min(n, start + chunk) * d);
      const found = await this.native.search(slice, { ...base, exact, breadth });
      // The walk may run dry inside a selective filter; those queries are answered exactly.
      let again: { found: NativeResults; row: Map<number, number> } | undefined;
      if (!exact && plan.filter && !range) {
        const wanted = Math.min(plan.capacity, admitted);
        const short: number[] = [];
        for (let q = 0; q + 1 < found.offsets.length; q++) {
          if (this.liveCount(found, q) < wanted) short.push(q);
        }
        if (short.length > 0) {
          const vectors = new Float32Array(short.length * d);
          short.forEach((q, i) => vectors.set(slice.subarray(q * d, (q + 1) * d), i * d));
          const exactFound = await this.native.search(vectors, { ...base, exact: true, breadth });
          again = { found: exactFound, row: new Map(short.map((q, i) => [q, i])) };
        }
      }
      for (let q = 0; q + 1 < found.offsets.length; q++) {
        const i = again?.row.get(q);
        if (i === undefined) this.appendRow(out, found, q, plan.capacity, range);
        else this.appendRow(out, again!.found, i, plan.capacity, range);
      }
    }
    return out;
  }

  private liveCount(found: NativeResults, q: number): number {
    let live = 0;
    for (let i = found.offsets[q]!; i < found.offsets[q + 1]!; i++) if (this.idByKey[found.keys[i]!] !== undefined) live++;
    return live;
  }

  private appendRow(out: KeyedResults, found: NativeResults, q: number, capacity: number, range: boolean): void {
    const from = found.offsets[q]!;
    const to = found.offsets[q + 1]!;
    for (let i = from; i < to; i++) {
      const key = found.keys[i]!;
      // A key removed while the search ran has no id any more; it is dropped.
      if (this.idByKey[key] === undefined) continue;
      out.keys.push(key);
      out.scores.push(found.scores[i]!);
    }
    out.offsets.push(out.keys.length);
    out.truncated.push(range && to - from >= capacity);
  }

  private toNeighbors(found: KeyedResults): QueryNeighbors[] {
    const rows: QueryNeighbors[] = [];
    for (let q = 0; q + 1 < found.offsets.length; q++) {
      const neighbors: Neighbor[] = [];
      for (let i = found.offsets[q]!; i < found.offsets[q + 1]!; i++) {
        const key = found.keys[i]!;
        neighbors.push({ id: this.idByKey[key]!, score: found.scores[i]!, metadata: this.metadataStore.get(key) });
      }
      rows.push({ neighbors, truncated: found.truncated[q]! });
    }
    return rows;
  }

  private toFlat(found: KeyedResults): FlatNeighbors {
    const ids = new Array<string>(found.keys.length);
    for (let i = 0; i < ids.length; i++) ids[i] = this.idByKey[found.keys[i]!]!;
    return {
      ids,
      scores: Float32Array.from(found.scores),
      offsets: Uint32Array.from(found.offsets),
      truncated: Uint8Array.from(found.truncated, Number),
    };
  }
}

function normalizeRow(vectors: Float32Array, row: number, d: number): void {
  let norm = 0;
  for (let i = row * d; i < (row + 1) * d; i++) norm += vectors[i]! * vectors[i]!;
  const scale = 1 / Math.sqrt(norm);
  for (let i = row * d; i < (row + 1) * d; i++) vectors[i]! *= scale;
}
