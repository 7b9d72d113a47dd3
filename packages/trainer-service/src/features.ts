import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { packageDefinition, type embeddingV1 } from '@select/contracts';
import { NpyReader, readClassShards, readParquetPool, writeNpy } from '@select/datasets';
import { ServiceError, createGrpcClient, writeFileAtomic, type Logger } from '@select/platform';
import type { ShiftInfo } from './shift-info.js';

const EMBEDDING_SERVICE = 'select.embedding.v1.EmbeddingService';

/** Frozen features of a shift, row-aligned with their labels. */
export interface FeatureSet {
  dim: number;
  rows: number;
  /** rows × dim, row-major. */
  features: Float32Array;
  labels: Int32Array;
  /** Where the features came from: "embedding:<model>" or "features:<dir>". */
  source: string;
  /** Samples that had no feature (image the encoder refused, row without a label); left out. */
  dropped: number;
}

type EmbedClient = grpc.Client & { embedImages(options: grpc.CallOptions): grpc.ClientDuplexStream<embeddingV1.EmbedImageRequest, embeddingV1.EmbedImageResponse__Output> };

/**
 * Features of a shift for the linear probe and the kNN bank: from the embedding service over gRPC (every shift
 * image through EmbedImages), or from an embedding dataset job's output (clip-retrieval layout, `label` = wnid).
 * The result is cached in the run directory (`features/features.npy`, `features/labels.npy`, `features/info.json`)
 * once complete, so a resumed run does not embed again.
 */
export class FeatureSource {
  private client: EmbedClient | null = null;

  constructor(private readonly options: { embeddingAddress: string | undefined; logger: Logger }) {}

  get canEmbed(): boolean {
    return Boolean(this.options.embeddingAddress);
  }

  async load(
    shift: ShiftInfo,
    request: { model: string; featuresUri: string; cacheDir: string; signal: AbortSignal; progress(done: number, total: number): void },
  ): Promise<FeatureSet> {
    const cached = await readCache(request.cacheDir);
    if (cached) return cached;
    const set = request.featuresUri ? await fromFeaturesDir(shift, request.featuresUri, request.signal) : await this.embed(shift, request);
    if (set.rows === 0) throw ServiceError.failedPrecondition(`no features for shift ${shift.dir} (${set.source}): every sample was dropped`);
    await writeCache(request.cacheDir, set);
    return set;
  }

  async close(): Promise<void> {
    this.client?.close();
    this.client = null;
  }

  private async embed(
    shift: ShiftInfo,
    request: { model: string; signal: AbortSignal; progress(done: number, total: number): void },
  ): Promise<FeatureSet> {
    if (!this.options.embeddingAddress) {
      throw ServiceError.failedPrecondition('no embedding service configured (TRAINER_EMBEDDING_ADDRESS); give features_uri (an embedding dataset job output of the shift)');
    }
    this.client ??= createGrpcClient(packageDefinition('embedding'), EMBEDDING_SERVICE, this.options.embeddingAddress, { defaultDeadlineMs: 0 }) as EmbedClient;
    const call = this.client.embedImages({});
    const labels: number[] = [];
    const vectors: Float32Array[] = [];
    const failures: string[] = [];
    let dim = 0;
    let answered = 0;
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (r: embeddingV1.EmbedImageResponse__Output) => {
        const index = Number(r.itemId);
        answered++;
        if (r.embedding) {
          const v = Float32Array.from(r.embedding.vector);
          dim ||= v.length;
          vectors[index] = v;
        } else if (failures.length < 5) failures.push(`${r.itemId}: ${r.error?.code} ${r.error?.message}`);
        if (answered % 64 === 0) request.progress(answered, shift.samples);
      });
      call.on('error', (err: Error) => reject(ServiceError.unavailable(`embedding service at ${this.options.embeddingAddress}: ${err.message}`)));
      call.on('end', resolve);
    });
    done.catch(() => undefined);
    const abort = (): void => call.cancel();
    request.signal.addEventListener('abort', abort, { once: true });
    try {
      let i = 0;
      for await (const record of readClassShards({ shards: shift.shards.map((s) => join(shift.dir, s.name)), classes: shift.classes })) {
        if (request.signal.aborted) throw request.signal.reason;
        if (!record.ok) continue;
        labels[i] = record.sample.classIndex;
        const ok = call.write({ itemId: String(i), model: request.model, image: record.sample.image.bytes });
        i++;
        if (!ok) await Promise.race([once(call, 'drain'), done]);
      }
      call.end();
      await done;
    } finally {
      request.signal.removeEventListener('abort', abort);
    }
    if (request.signal.aborted) throw request.signal.reason;
    const keep = vectors.map((v, i) => (v ? i : -1)).filter((i) => i >= 0);
    if (failures.length > 0) this.options.logger.warn({ failures, dropped: labels.length - keep.length }, 'some shift images got no embedding');
    return pack(dim, keep.map((i) => vectors[i]!), keep.map((i) => labels[i]!), `embedding:${request.model || 'default'}`, labels.length - keep.length);
  }
}

async function fromFeaturesDir(shift: ShiftInfo, dir: string, signal: AbortSignal): Promise<FeatureSet> {
  if (!existsSync(join(dir, 'metadata'))) throw ServiceError.notFound(`features_uri ${dir} has no metadata/ folder (an embedding dataset job's output)`);
  const index = new Map(shift.classes.map((w, i) => [w, i]));
  const vectors: Float32Array[] = [];
  const labels: number[] = [];
  let dropped = 0;
  let dim = 0;
  const reasons: string[] = [];
  // the reader wants a caption per row; an image-only job (a shift) has empty captions, so its `label` column
  // (the wnid) stands in for the caption and is the label
  for await (const record of readParquetPool({ embeddingsDir: dir, embeddings: 'image', columns: { caption: ['label'] }, extraColumns: ['label'] })) {
    if (signal.aborted) throw signal.reason;
    if (!record.ok) {
      dropped++;
      if (reasons.length < 3) reasons.push(record.error.message);
      continue;
    }
    const label = index.get(String(record.sample.metadata['label'] ?? ''));
    const v = record.sample.imageEmbedding;
    if (label === undefined || !v) {
      dropped++;
      if (reasons.length < 3) reasons.push(!v ? `row ${record.sample.row}: no image embedding` : `row ${record.sample.row}: label "${String(record.sample.metadata['label'] ?? '')}" is not a class of the shift`);
      continue;
    }
    dim ||= v.length;
    vectors.push(v);
    labels.push(label);
  }
  if (vectors.length === 0 && reasons.length > 0) {
    throw ServiceError.failedPrecondition(`features_uri ${dir}: no usable row of ${dropped}, e.g. ${reasons.join('; ')}`);
  }
  return pack(dim, vectors, labels, `features:${dir}`, dropped);
}

function pack(dim: number, vectors: Float32Array[], labels: number[], source: string, dropped: number): FeatureSet {
  const features = new Float32Array(vectors.length * dim);
  vectors.forEach((v, i) => features.set(v, i * dim));
  return { dim, rows: vectors.length, features, labels: Int32Array.from(labels), source, dropped };
}

async function writeCache(dir: string, set: FeatureSet): Promise<void> {
  const tmp = `${dir}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await writeNpy(join(tmp, 'features.npy'), set.features, { dim: set.dim });
  await writeNpy(join(tmp, 'labels.npy'), Float32Array.from(set.labels), { dim: 1 });
  await writeFileAtomic(join(tmp, 'info.json'), JSON.stringify({ rows: set.rows, dim: set.dim, source: set.source, dropped: set.dropped }));
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
}

async function readCache(dir: string): Promise<FeatureSet | null> {
  let info: { rows: number; dim: number; source: string; dropped: number };
  try {
    info = JSON.parse(await readFile(join(dir, 'info.json'), 'utf8')) as typeof info;
  } catch {
    return null;
  }
  const f = await NpyReader.open(join(dir, 'features.npy'));
  const l = await NpyReader.open(join(dir, 'labels.npy'));
  try {
    const features = await f.readRows(0, info.rows);
    const labels = Int32Array.from(await l.readRows(0, info.rows));
    return { ...info, features, labels };
  } finally {
    await f.close();
    await l.close();
  }
}
