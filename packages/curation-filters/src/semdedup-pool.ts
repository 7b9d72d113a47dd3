// SemDeDup over a whole pool that need not fit in memory: (1) a seeded reservoir sample trains k-means,
// (2) every embedding is assigned in a stream and spilled to a partition file by cluster, (3) each
// partition is read back and its clusters de-duplicated one by one. Memory: the sample, one batch, and
// one partition (about `partitionBytes`, more only when a single cluster is larger).
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { invalidArgument } from './errors.js';
import { trainKMeans, type KMeansTraining } from './kmeans.js';
import { Reservoir } from './random.js';
import { checkSemDeDupOptions, dedupCluster, type ClusterDedupResult, type SemDeDupOptions } from './semdedup.js';
import type { SimilarityKernel } from './similarity-kernel.js';
import type { Matrix } from './vectors.js';

export interface EmbeddingRow {
  id: string;
  vector: Float32Array;
  /** Caller score (CLIP score) for the `highest-score` keep order. */
  score?: number;
}

export interface PoolSemDeDupOptions extends SemDeDupOptions {
  /** k-means clusters. */
  clusters: number;
  /** @default 20 */
  iterations?: number;
  /** @default 0 */
  seed?: number;
  /** Embeddings k-means trains on (a seeded uniform sample). @default 256 x clusters (faiss's max points per centroid) */
  sampleSize?: number;
  /** Directory for the partition files (created; removed afterwards). */
  spillDir: string;
  /** Target size of one partition file. @default 256 MiB */
  partitionBytes?: number;
  /** A cluster whose vectors exceed this many bytes gets a warning (it is still processed, block by block). @default 1 GiB */
  maxClusterBytes?: number;
  /** Rows assigned per kernel call. @default 8192 */
  batchRows?: number;
}

export interface PoolSemDeDupHooks {
  /**
   * Every cluster's result as it is done: partition by partition (cluster c lives in partition
   * c mod partitions), clusters ascending within a partition — the same order for the same pool and options.
   */
  onCluster?(cluster: number, result: ClusterDedupResult): void | Promise<void>;
  onWarning?(message: string): void;
  onProgress?(phase: 'sample' | 'train' | 'assign' | 'dedup', done: number, total: number): void;
  signal?: AbortSignal;
}

export interface PoolSemDeDupSummary {
  rows: number;
  kept: number;
  removed: number;
  duplicatePairs: number;
  training: Omit<KMeansTraining, 'model'>;
  clusterSizes: Uint32Array;
  /** Clusters over `maxClusterBytes`. */
  oversizedClusters: number[];
}

export async function semDeDupPool(
  rows: () => AsyncIterable<EmbeddingRow>,
  options: PoolSemDeDupOptions,
  kernel: SimilarityKernel,
  hooks: PoolSemDeDupHooks = {},
): Promise<PoolSemDeDupSummary> {
  const dedupOptions = checkSemDeDupOptions(options);
  const k = options.clusters;
  if (!Number.isInteger(k) || k < 1) throw invalidArgument(`SemDeDup: clusters must be a positive integer (got ${k})`);
  const seed = options.seed ?? 0;
  const sampleSize = options.sampleSize ?? 256 * k;
  const batchRows = options.batchRows ?? 8192;
  const maxClusterBytes = options.maxClusterBytes ?? 2 ** 30;

  // 1. sample
  const reservoir = new Reservoir<Float32Array>(sampleSize, seed);
  let dim = -1;
  const needScores = dedupOptions.order === 'highest-score';
  for await (const row of rows()) {
    hooks.signal?.throwIfAborted();
    if (needScores && !Number.isFinite(row.score)) throw invalidArgument(`SemDeDup: order highest-score needs a score for every embedding; ${row.id} has none`);
    if (dim < 0) dim = row.vector.length;
    if (row.vector.length !== dim) throw invalidArgument(`SemDeDup: embedding of ${row.id} has ${row.vector.length} dimensions, the first had ${dim}`);
    reservoir.offer(row.vector);
  }
  const total = reservoir.offered;
  hooks.onProgress?.('sample', total, total);
  if (total === 0) throw invalidArgument('SemDeDup: the pool has no embeddings');
  if (total < k) throw invalidArgument(`SemDeDup: ${k} clusters need at least ${k} embeddings; the pool has ${total}`);
  const sampled = reservoir.items();
  const sample: Matrix = { data: new Float32Array(sampled.length * dim), rows: sampled.length, dim };
  sampled.forEach((v, i) => sample.data.set(v, i * dim));

  // 2. train
  hooks.onProgress?.('train', 0, 1);
  const training = await trainKMeans(sample, { k, iterations: options.iterations ?? 20, seed }, kernel);
  hooks.onProgress?.('train', 1, 1);

  // 3. assign in a stream, spill by partition
  const recordBytes = 4 * dim + 64; // vector + id and fields, roughly
  const partitions = Math.max(1, Math.min(k, Math.ceil((total * recordBytes) / (options.partitionBytes ?? 256 * 2 ** 20))));
  mkdirSync(options.spillDir, { recursive: true });
  const spill = new PartitionSpill(options.spillDir, partitions, dim);
  const clusterSizes = new Uint32Array(k);
  try {
    let batch: EmbeddingRow[] = [];
    let done = 0;
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const data = new Float32Array(batch.length * dim);
      batch.forEach((r, i) => data.set(r.vector, i * dim));
      const { cluster, similarity } = await training.model.assign({ data, rows: batch.length, dim }, kernel);
      batch.forEach((r, i) => {
        const c = cluster[i]!;
        clusterSizes[c]!++;
        spill.write(c % partitions, c, r, similarity[i]!);
      });
      done += batch.length;
      hooks.onProgress?.('assign', done, total);
      batch = [];
    };
    for await (const row of rows()) {
      hooks.signal?.throwIfAborted();
      if (row.vector.length !== dim) throw invalidArgument(`SemDeDup: embedding of ${row.id} has ${row.vector.length} dimensions, the first had ${dim}`);
      batch.push(row);
      if (batch.length >= batchRows) await flush();
    }
    await flush();
    spill.close();

    const oversizedClusters: number[] = [];
    clusterSizes.forEach((size, c) => {
      if (size * dim * 4 > maxClusterBytes) {
        oversizedClusters.push(c);
        hooks.onWarning?.(
          `SemDeDup: cluster ${c} holds ${size} embeddings (${((size * dim * 4) / 2 ** 20).toFixed(0)} MiB of vectors, over maxClusterBytes ` +
            `${(maxClusterBytes / 2 ** 20).toFixed(0)} MiB); it is loaded whole and compared block by block — raise clusters to split it`,
        );
      }
    });

    // 4. de-duplicate, partition by partition, clusters in ascending order
    let kept = 0;
    let removed = 0;
    let duplicatePairs = 0;
    let clustersDone = 0;
    for (let p = 0; p < partitions; p++) {
      const byCluster = spill.read(p);
      for (const c of [...byCluster.keys()].sort((a, b) => a - b)) {
        hooks.signal?.throwIfAborted();
        const members = byCluster.get(c)!;
        byCluster.delete(c);
        const result = await dedupCluster(
          {
            ids: members.ids,
            vectors: { data: members.vectors, rows: members.ids.length, dim },
            centroidSimilarity: members.centroidSimilarity,
            scores: members.scores,
          },
          dedupOptions,
          kernel,
        );
        kept += result.kept.length;
        removed += result.removed.length;
        duplicatePairs += result.duplicatePairs;
        await hooks.onCluster?.(c, result);
        hooks.onProgress?.('dedup', ++clustersDone, k);
      }
    }
    const { model: _model, ...trainingInfo } = training;
    return { rows: total, kept, removed, duplicatePairs, training: trainingInfo, clusterSizes, oversizedClusters };
  } finally {
    spill.close();
    rmSync(options.spillDir, { recursive: true, force: true });
  }
}

interface SpilledCluster {
  ids: string[];
  vectors: Float32Array;
  centroidSimilarity: Float32Array;
  scores: Float32Array;
}

/**
 * Append-only partition files of records `u32 cluster | f32 centroid similarity | f32 score (NaN: none) |
 * u32 id bytes | id (UTF-8) | f32 x dim`, buffered 1 MiB per partition.
 */
class PartitionSpill {
  private readonly fds: number[];
  private readonly buffers: Buffer[];
  private readonly used: number[];
  private closed = false;

  constructor(
    private readonly dir: string,
    partitions: number,
    private readonly dim: number,
  ) {
    this.fds = Array.from({ length: partitions }, (_, p) => openSync(join(dir, `partition-${p}.bin`), 'w'));
    this.buffers = Array.from({ length: partitions }, () => Buffer.allocUnsafe(2 ** 20));
    this.used = new Array<number>(partitions).fill(0);
  }

  write(partition: number, cluster: number, row: EmbeddingRow, centroidSimilarity: number): void {
    const id = Buffer.from(row.id, 'utf8');
    const size = 16 + id.length + 4 * this.dim;
    if (this.used[partition]! + size > this.buffers[partition]!.length) this.flush(partition);
    let buf = this.buffers[partition]!;
    if (size > buf.length) buf = this.buffers[partition] = Buffer.allocUnsafe(size);
    let o = this.used[partition]!;
    o = buf.writeUInt32LE(cluster, o);
    o = buf.writeFloatLE(centroidSimilarity, o);
    o = buf.writeFloatLE(row.score ?? Number.NaN, o);
    o = buf.writeUInt32LE(id.length, o);
    o += id.copy(buf, o);
    o += Buffer.from(row.vector.buffer, row.vector.byteOffset, 4 * this.dim).copy(buf, o);
    this.used[partition] = o;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.fds.forEach((fd, p) => {
      this.flush(p);
      closeSync(fd);
    });
  }

  read(partition: number): Map<number, SpilledCluster> {
    const buf = readFileSync(join(this.dir, `partition-${partition}.bin`));
    const rows = new Map<number, { ids: string[]; offsets: number[]; sims: number[]; scores: number[] }>();
    let o = 0;
    while (o < buf.length) {
      const cluster = buf.readUInt32LE(o);
      const sim = buf.readFloatLE(o + 4);
      const score = buf.readFloatLE(o + 8);
      const idLength = buf.readUInt32LE(o + 12);
      const id = buf.toString('utf8', o + 16, o + 16 + idLength);
      const vectorAt = o + 16 + idLength;
      let entry = rows.get(cluster);
      if (entry === undefined) rows.set(cluster, (entry = { ids: [], offsets: [], sims: [], scores: [] }));
      entry.ids.push(id);
      entry.offsets.push(vectorAt);
      entry.sims.push(sim);
      entry.scores.push(score);
      o = vectorAt + 4 * this.dim;
    }
    const out = new Map<number, SpilledCluster>();
    for (const [cluster, entry] of rows) {
      const vectors = new Float32Array(entry.ids.length * this.dim);
      const bytes = new Uint8Array(vectors.buffer);
      entry.offsets.forEach((at, i) => bytes.set(buf.subarray(at, at + 4 * this.dim), i * 4 * this.dim));
      out.set(cluster, {
        ids: entry.ids,
        vectors,
        centroidSimilarity: Float32Array.from(entry.sims),
        scores: Float32Array.from(entry.scores),
      });
    }
    return out;
  }

  private flush(partition: number): void {
    const used = this.used[partition]!;
    if (used === 0) return;
    writeSync(this.fds[partition]!, this.buffers[partition]!, 0, used);
    this.used[partition] = 0;
  }
}
