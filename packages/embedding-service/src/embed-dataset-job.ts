import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { embeddingV1 } from '@select/contracts';
import { JobRuntime, disabledJobHandlers, refuseJobStart, type JobApiHandlers, type JobKind, type JobStatus } from '@select/jobs';
import { ServiceError, type Logger } from '@select/platform';
import { CAPTIONED_FORMATS, DATASET_FORMATS, countSamples, embedDataset, type DatasetFormat, type DatasetJobParams, type DatasetJobProgress } from './dataset-embedding.js';
import type { EmbeddingEngine } from './embedding-engine.js';
import { toServiceError } from './item-errors.js';

type EmbedDatasetRequest = embeddingV1.EmbedDatasetRequest__Output;

export const EMBED_DATASET_JOB = 'embed-dataset';
const DEFAULT_ROWS_PER_FILE = 10_000;

function localPath(uri: string, field: string): string {
  const path = uri.startsWith('file://') ? fileURLToPath(uri) : uri;
  if (!path || !isAbsolute(path)) throw ServiceError.invalidArgument(`${field} must be an absolute path or file:// URI, got "${uri}"`);
  return resolve(path);
}

/** Progress counts samples read, written or dropped, so that `done` reaches `total`. */
const processed = (p: DatasetJobProgress) => p.done + p.failed;

/**
 * The dataset-embedding job (StartEmbedDataset): embeds a pool into clip-retrieval's layout. Its id is a hash
 * of the normalised request, so the same request again is the same job; a stopped or crashed one resumes
 * after its last written file (the checkpoint is written after every file set).
 */
export function embedDatasetJob(engine: EmbeddingEngine, options: { defaultModel: string }): JobKind<EmbedDatasetRequest, DatasetJobProgress, DatasetJobParams> {
  return {
    kind: EMBED_DATASET_JOB,
    unit: 'samples',
    normalize(req) {
      const model = req.model || options.defaultModel;
      let spec;
      try {
        spec = engine.spec(model);
      } catch (err) {
        throw toServiceError(err);
      }
      if (!(DATASET_FORMATS as readonly string[]).includes(req.inputFormat)) {
        throw ServiceError.invalidArgument(`input_format "${req.inputFormat}" is not one of ${DATASET_FORMATS.join(', ')}`);
      }
      const inputFormat = req.inputFormat as DatasetFormat;
      if (!req.embedImages && !req.embedTexts) throw ServiceError.invalidArgument('set embed_images, embed_texts or both');
      if (req.embedImages && !spec.image) throw ServiceError.invalidArgument(`model ${model} is ${spec.kind}: it does not embed images`);
      if (req.embedTexts && !spec.text) throw ServiceError.invalidArgument(`model ${model} is ${spec.kind}: it does not embed texts`);
      if (req.embedTexts && !CAPTIONED_FORMATS.includes(inputFormat)) throw ServiceError.invalidArgument(`a ${inputFormat} pool has no captions to embed`);
      // shard and parquet patterns stay patterns; directories must be absolute
      const pattern = inputFormat === 'webdataset' || inputFormat === 'parquet';
      const inputUri = pattern ? req.inputUri : req.inputUri ? localPath(req.inputUri, 'input_uri') : '';
      if (!inputUri && inputFormat !== 'openclipart') throw ServiceError.invalidArgument('input_uri is required');
      const limit = Number(req.limit || 0);
      if (!Number.isSafeInteger(limit) || limit < 0) throw ServiceError.invalidArgument(`limit ${String(req.limit)} must be a whole number of records (0: all)`);
      return {
        model,
        inputUri,
        inputFormat,
        outputDir: localPath(req.outputUri, 'output_uri'),
        embedImages: req.embedImages,
        embedTexts: req.embedTexts,
        rowsPerFile: req.rowsPerFile || DEFAULT_ROWS_PER_FILE,
        // absent when 0, so that requests without a limit keep the job ids they always had
        ...(limit > 0 ? { limit } : {}),
      };
    },
    outputUri: (params) => params.outputDir,
    resumeMessage: (progress) => `resuming after file ${progress.fileIndex}`,
    async run(ctx) {
      const start: DatasetJobProgress = ctx.resumeState ?? { fileIndex: 0, cursor: undefined, done: 0, failed: 0 };
      // counted once per run, before the first file: a pool may have grown since a stopped run
      const total =
        (await countSamples(ctx.request, ctx.signal).catch((err: unknown) => {
          ctx.logger.warn({ err }, 'cannot count the pool; progress goes without a total');
          return undefined;
        })) ?? 0;
      const final = await embedDataset(
        engine,
        ctx.request,
        start,
        async (progress) => {
          ctx.progress(processed(progress), total, `${progress.fileIndex} files, ${progress.done} rows written, ${progress.failed} dropped`);
          await ctx.checkpoint(progress);
        },
        ctx.signal,
        { report: (processed, files) => ctx.progress(processed, total, `${processed} rows processed, ${files} files written`) },
      );
      return `done: ${final.done} rows written in ${final.fileIndex} files, ${final.failed} dropped`;
    },
  };
}

export interface DatasetJobsOptions {
  /** Where job state files live; undefined: dataset jobs are off (FAILED_PRECONDITION). */
  jobsDir: string | undefined;
  defaultModel: string;
  logger: Logger;
  /** Prefix of the Kafka topics job events go to. */
  topicPrefix: string;
  /** Publish JobLifecycle / JobProgress events (select.jobs.v1). */
  publishEvents: boolean;
  /** Kafka brokers; @default KAFKA_BROKERS, else 127.0.0.1:9092 */
  brokers?: string[];
  /** Dataset jobs running at once; more wait QUEUED. @default 1 */
  concurrency?: number;
}

/** The job runtime of the embedding service with the dataset job registered (not resumed yet); undefined when jobs are off. */
export async function openDatasetJobs(engine: EmbeddingEngine, options: DatasetJobsOptions): Promise<JobRuntime | undefined> {
  if (!options.jobsDir) return undefined;
  const jobs = await JobRuntime.open({
    dir: options.jobsDir,
    service: 'embedding-service',
    logger: options.logger,
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    events: options.publishEvents ? { topicPrefix: options.topicPrefix, ...(options.brokers ? { brokers: options.brokers } : {}) } : false,
  });
  return jobs.register(embedDatasetJob(engine, { defaultModel: options.defaultModel }));
}

/** StartEmbedDataset and the common job API (GetJob, CancelJob, ListJobs, WatchJob). */
export function datasetJobHandlers(jobs: JobRuntime | undefined): JobApiHandlers & { StartEmbedDataset: (request: EmbedDatasetRequest) => Promise<JobStatus> } {
  if (!jobs) {
    const reason = 'dataset jobs are off on this server (EMBEDDING_JOBS_DIR is not set)';
    return { StartEmbedDataset: refuseJobStart(reason), ...disabledJobHandlers(reason) };
  }
  return { StartEmbedDataset: (req: EmbedDatasetRequest) => jobs.start(EMBED_DATASET_JOB, req), ...jobs.grpcHandlers() };
}
