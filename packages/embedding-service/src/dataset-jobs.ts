import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEventProducer, type EventProducer } from '@select/events';
import { ServiceError, writeFileAtomic, type CallContext, type Logger } from '@select/platform';
import { CAPTIONED_FORMATS, DATASET_FORMATS, countSamples, embedDataset, type DatasetFormat, type DatasetJobParams, type DatasetJobProgress } from './dataset-embedding.js';
import type { EmbeddingEngine } from './embedding-engine.js';
import { toServiceError } from './item-errors.js';
import type { commonV1, embeddingV1, eventsV1 } from '@select/contracts';

type EmbedDatasetRequest = embeddingV1.EmbedDatasetRequest__Output;
type JobStatusMsg = commonV1.JobStatus__Output;

export const JOB_KIND = 'embed-dataset';
const DEFAULT_ROWS_PER_FILE = 10_000;

export interface DatasetJobsOptions {
  /** Where job state files live; undefined: jobs are refused. */
  jobsDir: string | undefined;
  defaultModel: string;
  logger: Logger;
  /** Prefix of the Kafka topics job events go to. */
  topicPrefix: string;
  /** Publish JobLifecycle / JobProgress events (select.jobs.v1). */
  publishEvents: boolean;
  /** Kafka brokers; @default KAFKA_BROKERS, else 127.0.0.1:9092 */
  brokers?: string[];
}

/** What a job's state file holds. */
interface JobRecord {
  jobId: string;
  params: DatasetJobParams;
  state: commonV1.JobState__Output;
  progress: DatasetJobProgress;
  /** Samples in the pool (counted when the job starts); 0 while unknown. */
  total: number;
  message: string;
  createdUnixMs: number;
  updatedUnixMs: number;
}

interface Running {
  record: JobRecord;
  controller: AbortController;
  done: Promise<void>;
}

function localPath(uri: string, field: string): string {
  const path = uri.startsWith('file://') ? fileURLToPath(uri) : uri;
  if (!path || !isAbsolute(path)) throw ServiceError.invalidArgument(`${field} must be an absolute path or file:// URI, got "${uri}"`);
  return resolve(path);
}

/**
 * Dataset-embedding jobs: StartEmbedDataset, GetJob, CancelJob. A job's id is a hash of its normalised request,
 * so starting the same request again finds the same job: a finished one is reported, a stopped or crashed one
 * resumes after its last written file. State lives in `jobsDir/<jobId>.json`; progress and lifecycle go to
 * Kafka (select.jobs.v1, key job_id) when enabled.
 */
export class DatasetJobs {
  private readonly running = new Map<string, Running>();
  private producer: EventProducer | null = null;
  private closed = false;

  constructor(
    private readonly engine: EmbeddingEngine,
    private readonly options: DatasetJobsOptions,
  ) {}

  /** Validate and normalise a request into job parameters (throws INVALID_ARGUMENT / NOT_FOUND). */
  params(req: EmbedDatasetRequest): DatasetJobParams {
    const model = req.model || this.options.defaultModel;
    let spec;
    try {
      spec = this.engine.spec(model);
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
    return {
      model,
      inputUri,
      inputFormat,
      outputDir: localPath(req.outputUri, 'output_uri'),
      embedImages: req.embedImages,
      embedTexts: req.embedTexts,
      rowsPerFile: req.rowsPerFile || DEFAULT_ROWS_PER_FILE,
    };
  }

  /** Start (or resume, or report) the job for a request. */
  async start(req: EmbedDatasetRequest): Promise<JobStatusMsg> {
    const jobsDir = this.options.jobsDir;
    if (!jobsDir) throw ServiceError.failedPrecondition('dataset jobs are off on this server (EMBEDDING_JOBS_DIR is not set)');
    if (this.closed) throw ServiceError.unavailable('the server is shutting down');
    const params = this.params(req);
    const jobId = `${JOB_KIND}-${createHash('sha256').update(JSON.stringify(params)).digest('hex').slice(0, 16)}`;
    const live = this.running.get(jobId);
    if (live) return status(live.record);
    const saved = await this.load(jobId);
    if (saved?.state === 'JOB_STATE_SUCCEEDED') return status(saved);
    const now = Date.now();
    const record: JobRecord = saved
      ? { ...saved, state: 'JOB_STATE_RUNNING', message: `resuming after file ${saved.progress.fileIndex}`, updatedUnixMs: now }
      : {
          jobId,
          params,
          state: 'JOB_STATE_RUNNING',
          progress: { fileIndex: 0, cursor: undefined, done: 0, failed: 0 },
          total: 0,
          message: 'started',
          createdUnixMs: now,
          updatedUnixMs: now,
        };
    await this.save(record);
    const controller = new AbortController();
    const run: Running = { record, controller, done: Promise.resolve() };
    this.running.set(jobId, run);
    run.done = this.execute(run);
    return status(record);
  }

  /** Current status of a job, from memory or its state file. */
  async get(jobId: string): Promise<JobStatusMsg> {
    const live = this.running.get(jobId);
    if (live) return status(live.record);
    const saved = await this.load(jobId);
    if (!saved) throw ServiceError.notFound(`no job ${jobId}`);
    return status(saved);
  }

  /** Stop a running job after its current file; it can be resumed by starting the same request. */
  async cancel(jobId: string): Promise<JobStatusMsg> {
    const live = this.running.get(jobId);
    if (!live) return this.get(jobId);
    live.controller.abort(new Error('cancelled'));
    await live.done;
    return status(live.record);
  }

  /** Wait for a running job to end (tests, shutdown). */
  async wait(jobId: string): Promise<JobStatusMsg> {
    await this.running.get(jobId)?.done;
    return this.get(jobId);
  }

  startHandler() {
    return (req: EmbedDatasetRequest) => this.start(req);
  }

  getHandler() {
    return (req: commonV1.JobRef__Output) => this.get(req.jobId);
  }

  cancelHandler() {
    return (req: commonV1.JobRef__Output, _ctx: CallContext) => this.cancel(req.jobId);
  }

  /** Stop running jobs (they stay resumable) and the event producer. */
  async close(): Promise<void> {
    this.closed = true;
    for (const r of this.running.values()) r.controller.abort(new Error('server shutting down'));
    await Promise.all([...this.running.values()].map((r) => r.done));
    await this.producer?.disconnect().catch(() => undefined);
    this.producer = null;
  }

  private async execute(run: Running): Promise<void> {
    const { record, controller } = run;
    const log = this.options.logger.child({ jobId: record.jobId });
    const startedAt = Date.now();
    const doneAtStart = processed(record.progress);
    await this.lifecycle(record);
    try {
      // counted once per run, before the first file: a pool may have grown since a stopped run
      record.total = (await countSamples(record.params, controller.signal).catch((err: unknown) => {
        log.warn({ err }, 'cannot count the pool; progress goes without a total');
        return undefined;
      })) ?? 0;
      await embedDataset(
        this.engine,
        record.params,
        record.progress,
        async (progress) => {
          record.progress = progress;
          record.updatedUnixMs = Date.now();
          record.message = `${progress.fileIndex} files, ${progress.done} rows written, ${progress.failed} dropped`;
          await this.save(record);
          const seconds = (Date.now() - startedAt) / 1000;
          const payload: eventsV1.JobProgress = {
            jobId: record.jobId,
            kind: JOB_KIND,
            done: String(processed(progress)),
            total: String(record.total),
            unit: UNIT,
            ratePerS: seconds > 0 ? (processed(progress) - doneAtStart) / seconds : 0,
            message: record.message,
          };
          await this.publish('select.events.v1.JobProgress', record.jobId, payload);
        },
        controller.signal,
      );
      record.state = 'JOB_STATE_SUCCEEDED';
      record.message = `done: ${record.progress.done} rows written in ${record.progress.fileIndex} files, ${record.progress.failed} dropped`;
    } catch (err) {
      if (controller.signal.aborted) {
        record.state = 'JOB_STATE_CANCELLED';
        record.message = `stopped after ${record.progress.fileIndex} files (${String((controller.signal.reason as Error).message)}); start the same request to resume`;
      } else {
        record.state = 'JOB_STATE_FAILED';
        record.message = (err as Error).message;
        log.error({ err }, 'dataset job failed');
      }
    }
    record.updatedUnixMs = Date.now();
    await this.save(record).catch((err: unknown) => log.error({ err }, 'cannot save job state'));
    await this.lifecycle(record);
    this.running.delete(record.jobId);
    log.info({ state: record.state, ...record.progress, cursor: undefined }, 'dataset job ended');
  }

  private async lifecycle(record: JobRecord): Promise<void> {
    await this.publish('select.events.v1.JobLifecycle', record.jobId, {
      jobId: record.jobId,
      kind: JOB_KIND,
      state: record.state,
      message: record.message,
      paramsJson: JSON.stringify(record.params),
    });
  }

  // Events report progress; losing one must not fail the embedding, so failures are logged, not thrown
  private async publish(type: string, key: string, payload: object): Promise<void> {
    if (!this.options.publishEvents) return;
    try {
      if (!this.producer) {
        const producer = createEventProducer({
          clientId: 'embedding-service',
          source: 'embedding-service',
          topicPrefix: this.options.topicPrefix,
          ...(this.options.brokers ? { brokers: this.options.brokers } : {}),
        });
        await producer.connect();
        this.producer = producer;
      }
      await this.producer.publish('jobs', type, payload, { key });
    } catch (err) {
      this.options.logger.warn({ err, type, jobId: key }, 'job event not published');
    }
  }

  private file(jobId: string): string {
    return join(this.options.jobsDir!, `${jobId}.json`);
  }

  private async load(jobId: string): Promise<JobRecord | null> {
    if (!this.options.jobsDir || !/^[\w-]+$/.test(jobId)) return null;
    const path = this.file(jobId);
    if (!existsSync(path)) return null;
    return JSON.parse(await readFile(path, 'utf8')) as JobRecord;
  }

  private async save(record: JobRecord): Promise<void> {
    await mkdir(this.options.jobsDir!, { recursive: true });
    await writeFileAtomic(this.file(record.jobId), JSON.stringify(record, null, 1));
  }
}

/** Progress counts samples read, written or dropped, so that `done` reaches `total`. */
const UNIT = 'samples';
const processed = (p: DatasetJobProgress) => p.done + p.failed;

function status(r: JobRecord): JobStatusMsg {
  return {
    jobId: r.jobId,
    kind: JOB_KIND,
    state: r.state,
    done: String(processed(r.progress)),
    total: String(r.total ?? 0),
    unit: UNIT,
    message: r.message,
    createdUnixMs: String(r.createdUnixMs),
    updatedUnixMs: String(r.updatedUnixMs),
    outputUri: r.params.outputDir,
  };
}
