import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { packageDefinition, type retrievalV1 } from '@select/contracts';
import { writeNpy } from '@select/datasets';
import type { JobContext, JobKind } from '@select/jobs';
import { ServiceError, createGrpcClient, status as GrpcStatus, unary, writeFileAtomic } from '@select/platform';
import type { trainerV1 } from '@select/contracts';
import { requireFreeSpace } from './disk-space.js';
import type { FeatureSource } from './features.js';
import { buildKnnBank } from './knn-bank.js';
import type { RunBoard } from './run-board.js';
import { readShiftInfo, resolveShiftDir } from './shift-info.js';
import { baseRunFields, checkRunId, runJobId, type BaseRunRequest } from './run-request.js';

export const KNN_BANK_KIND = 'knn-bank';
const RETRIEVAL_SERVICE = 'select.retrieval.v1.RetrievalService';
const INDEX_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const DEFAULT_PER_CLASS = 5;
const ADD_BATCH = 512;

/** A normalised kNN-bank run. */
export interface KnnBankRequest extends BaseRunRequest {
  backend: 'knn-bank';
  embeddingModel: string;
  featuresUri: string;
  /** Bank size; perClass = total // classes. */
  total: number;
  nSearch: number;
  /** '' = knn-bank-<run id>. */
  index: string;
  seed: number;
}

export interface KnnBankBackendOptions {
  board: RunBoard;
  features: FeatureSource;
  shiftRoot: string | undefined;
  retrievalAddress: string | undefined;
  minFreeBytes: number;
}

type RetrievalClient = grpc.Client & {
  addVectors(options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: retrievalV1.AddVectorsResponse__Output) => void): grpc.ClientWritableStream<retrievalV1.AddVectorRequest>;
};

export function knnBankKind(options: KnnBankBackendOptions): JobKind<KnnBankRequest | trainerV1.TrainingRequest__Output, { stage: string }> {
  const { board } = options;
  return {
    kind: KNN_BANK_KIND,
    unit: 'vectors',
    async normalize(raw) {
      if ('nSearch' in raw) return raw;
      const req = raw;
      checkRunId(req.runId);
      if (!options.retrievalAddress) throw ServiceError.failedPrecondition('this trainer has no retrieval service (TRAINER_RETRIEVAL_ADDRESS) to store kNN banks in');
      const featuresUri = req.featuresUri ? resolveShiftDir(req.featuresUri, options.shiftRoot, 'features_uri') : '';
      if (!featuresUri && !options.features.canEmbed) {
        throw ServiceError.failedPrecondition('this trainer has no embedding service (TRAINER_EMBEDDING_ADDRESS): give features_uri, an embedding dataset job output of the shift');
      }
      const shift = await readShiftInfo(resolveShiftDir(req.shiftUri, options.shiftRoot), { allowMissingClasses: req.allowMissingClasses });
      const index = req.knnBank?.index ?? '';
      if (index && !INDEX_NAME.test(index)) throw ServiceError.invalidArgument(`knn_bank.index "${index}" is not a valid index name (letters, digits, '.', '_', '-')`);
      const total = req.knnBank?.total || DEFAULT_PER_CLASS * shift.classes.length;
      if (total < shift.classes.length) throw ServiceError.invalidArgument(`knn_bank.total ${total} is below one per class (${shift.classes.length} classes)`);
      const normalized: KnnBankRequest = {
        ...baseRunFields(req, shift, 'knn-bank'),
        backend: 'knn-bank',
        embeddingModel: req.embeddingModel,
        featuresUri,
        total,
        nSearch: req.knnBank?.nSearch ?? 0,
        index,
        seed: Number(req.recipe?.seed ?? 0),
      };
      board.prime(runJobId(KNN_BANK_KIND, normalized), { runId: runJobId(KNN_BANK_KIND, normalized), backend: normalized.backend, shiftId: normalized.shiftId, shiftUri: normalized.shiftDir, recipeName: normalized.recipeName });
      return normalized;
    },
    jobId: (r) => runJobId(KNN_BANK_KIND, r as KnnBankRequest),
    outputUri: (_r, jobId) => board.runDir(jobId),
    run: (ctx) => runBank(ctx as JobContext<KnnBankRequest, { stage: string }>, options),
  };
}

async function runBank(ctx: JobContext<KnnBankRequest, { stage: string }>, options: KnnBankBackendOptions): Promise<string> {
  const { board } = options;
  const req = ctx.request;
  const runId = ctx.jobId;
  const runDir = ctx.outputUri;
  await mkdir(runDir, { recursive: true });
  await requireFreeSpace(runDir, options.minFreeBytes, 'the bank is not built');
  const shift = await readShiftInfo(req.shiftDir, { allowMissingClasses: req.allowMissingClasses });
  const index = req.index || `knn-bank-${runId}`.slice(0, 128);
  await board.update(runId, { backend: 'knn-bank', shiftId: req.shiftId, shiftUri: req.shiftDir, recipeName: 'select-knn' });
  const features = await options.features.load(shift, {
    model: req.embeddingModel,
    featuresUri: req.featuresUri,
    cacheDir: join(runDir, 'features'),
    signal: ctx.signal,
    progress: (done, total) => ctx.progress(0, 0, `features: ${done} of ${total} images embedded`),
  });
  const perClass = Math.floor(req.total / shift.classes.length);
  const bank = buildKnnBank(features.features, features.labels, features.dim, { numClasses: shift.classes.length, perClass, nSearch: req.nSearch, seed: req.seed });
  const rows = bank.labels.length;
  const bankDir = join(runDir, 'bank');
  await mkdir(bankDir, { recursive: true });
  // features.npy + labels.npy: the layout the evaluator's evaluate-knn takes as bank_uri
  await writeNpy(join(bankDir, 'features.npy'), bank.vectors, { dim: bank.dim });
  await writeNpy(join(bankDir, 'labels.npy'), Float32Array.from(bank.labels), { dim: 1 });
  await writeFileAtomic(
    join(bankDir, 'bank.json'),
    JSON.stringify({ index, rows, dim: bank.dim, per_class: perClass, classes: shift.classes, stats: bank.stats, features: features.source }, null, 1),
  );
  ctx.progress(0, rows, `storing ${rows} vectors in retrieval index ${index}`);
  await ctx.checkpoint({ stage: 'bank' });

  const client = createGrpcClient(packageDefinition('retrieval'), RETRIEVAL_SERVICE, options.retrievalAddress!, { defaultDeadlineMs: 0 }) as RetrievalClient;
  try {
    try {
      await unary(client, 'CreateIndex', { name: index, dimension: bank.dim, metric: 'METRIC_COSINE' }, { deadlineMs: 30_000 });
    } catch (err) {
      if ((err as { code?: number }).code !== GrpcStatus.ALREADY_EXISTS) throw err;
      const info = await unary<retrievalV1.IndexInfo__Output>(client, 'GetStats', { name: index }, { deadlineMs: 30_000 });
      if (info.dimension !== bank.dim) {
        throw ServiceError.failedPrecondition(`retrieval index ${index} exists with dimension ${info.dimension}, the bank has ${bank.dim}; name another knn_bank.index`);
      }
    }
    for (let start = 0; start < rows; start += ADD_BATCH) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const end = Math.min(rows, start + ADD_BATCH);
      const res = await new Promise<retrievalV1.AddVectorsResponse__Output>((resolve, reject) => {
        const call = client.addVectors({ deadline: Date.now() + 120_000 }, (err, r) => (err ? reject(err) : resolve(r!)));
        for (let i = start; i < end; i++) {
          const v = bank.vectors.subarray(i * bank.dim, (i + 1) * bank.dim);
          call.write({
            index,
            id: String(i),
            vectorF32: Buffer.from(v.buffer, v.byteOffset, v.byteLength),
            metadata: { class_index: String(bank.labels[i]), wnid: shift.classes[bank.labels[i]!]!, origin: ['shift', 'sampled', 'empty-class'][bank.origin[i]!]! },
          });
        }
        call.end();
      });
      if (res.errors.length > 0) throw new Error(`retrieval index ${index} refused ${res.errors.length} bank vectors, e.g. ${res.errors[0]!.code}: ${res.errors[0]!.message}`);
      ctx.progress(end, rows, `stored ${end} of ${rows} vectors`);
    }
  } catch (err) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    const e = err as { code?: number; details?: string; message: string };
    if (e.code !== undefined && !(err instanceof ServiceError)) throw new Error(`retrieval service at ${options.retrievalAddress}: ${e.details ?? e.message}`);
    throw err;
  } finally {
    client.close();
  }
  const results = { bank_size: rows, per_class: perClass, real_rows: bank.stats.realRows, sampled_rows: bank.stats.sampledRows, empty_classes: bank.stats.emptyClasses, nudged_duplicates: bank.stats.nudgedDuplicates, seed: req.seed };
  await board.update(runId, { backend: 'knn-bank', artifactUri: `retrieval://${index}`, results });
  return `kNN bank of ${rows} vectors (${perClass} per class; ${bank.stats.sampledRows} sampled, ${bank.stats.emptyClasses} empty classes; seed ${req.seed}) in retrieval index ${index}`;
}
