import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { commonV1, eventsV1, generationV1 } from '@select/contracts';
import { readClassShards, readImageFolder, ShiftWriter, type ShiftSample } from '@select/datasets';
import type { GenerationRequest, StableDiffusionPipeline } from '@select/diffusion';
import { createEventProducer, type EventProducer } from '@select/events';
import { ServiceError, status as GrpcStatus, type Logger } from '@select/platform';
import { loadImageNetTaxonomy } from '@select/taxonomy';
import type { ModelRegistry } from './model-registry.js';
import { samplingToRequest } from './request-mapping.js';

export const BATCH_JOB_KIND = 'generate-batch';

/** select.generation.v1.BatchRequest as the server receives it (and keeps it on disk). */
export type BatchRequestMessage = generationV1.BatchRequest__Output;

type JobState = commonV1.JobState__Output;

/** select.common.v1.JobStatus as the service returns it (and keeps it on disk). */
export type JobStatusMessage = commonV1.JobStatus__Output;

interface StoredJob {
  status: JobStatusMessage;
  request: BatchRequestMessage;
}

export interface BatchJobsOptions {
  models: ModelRegistry;
  /** Where job state lives; undefined refuses StartBatch with FAILED_PRECONDITION. */
  jobsDir: string | undefined;
  logger: Logger;
  /** Kafka for JobLifecycle/JobProgress; undefined publishes nothing. */
  kafka: { brokers: string[]; topicPrefix: string } | undefined;
  /** Minimum time between two JobProgress events of a job. @default 2000 */
  progressIntervalMs?: number;
}

const TERMINAL: ReadonlySet<JobState> = new Set(['JOB_STATE_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED']);

/**
 * Batch generation into a shift, the way SD1000 was built: "A photo of {class}" with seeds 1..N per
 * class, or N variations of every reference image (label inherited). The job id is a hash of the
 * request, so starting the same request again — after a crash, a cancel or a restart — resumes it:
 * the shift writer knows which (source, seed) samples are written and those are skipped.
 */
export class BatchJobs {
  private readonly jobs = new Map<string, StoredJob>();
  private readonly running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  private producer: Promise<EventProducer> | undefined;

  constructor(private readonly options: BatchJobsOptions) {}

  /** Loads the jobs of jobsDir and resumes those a previous process left queued or running. */
  async restore(): Promise<void> {
    const dir = this.options.jobsDir;
    if (dir === undefined) return;
    await mkdir(dir, { recursive: true });
    for (const file of (await readdir(dir)).filter((f) => f.endsWith('.json'))) {
      try {
        const job = JSON.parse(await readFile(join(dir, file), 'utf8')) as StoredJob;
        this.jobs.set(job.status.jobId, job);
        if (!TERMINAL.has(job.status.state)) {
          this.options.logger.info({ jobId: job.status.jobId }, 'resuming batch job interrupted by a restart');
          this.launch(job);
        }
      } catch (err) {
        this.options.logger.warn({ err, file }, 'unreadable job state file skipped');
      }
    }
  }

  start(request: BatchRequestMessage): JobStatusMessage {
    if (this.options.jobsDir === undefined) throw ServiceError.failedPrecondition('batch jobs are disabled: set GENERATION_JOBS_DIR');
    const plan = this.validate(request);
    const jobId = `gen-${createHash('sha256').update(JSON.stringify(canonicalRequest(request))).digest('hex').slice(0, 20)}`;
    const existing = this.jobs.get(jobId);
    if (existing && (this.running.has(jobId) || existing.status.state === 'JOB_STATE_SUCCEEDED')) return existing.status;
    const now = String(Date.now());
    const job: StoredJob = {
      request,
      status: {
        jobId,
        kind: BATCH_JOB_KIND,
        state: 'JOB_STATE_QUEUED',
        done: existing?.status.done ?? '0',
        total: String(plan.total),
        unit: 'images',
        message: existing ? 'resuming' : 'queued',
        createdUnixMs: existing?.status.createdUnixMs ?? now,
        updatedUnixMs: now,
        outputUri: request.outputUri,
      },
    };
    this.jobs.set(jobId, job);
    this.launch(job);
    return job.status;
  }

  get(jobId: string): JobStatusMessage {
    const job = this.jobs.get(jobId);
    if (!job) throw ServiceError.notFound(`no batch job ${JSON.stringify(jobId)}`);
    return job.status;
  }

  async cancel(jobId: string): Promise<JobStatusMessage> {
    const job = this.jobs.get(jobId);
    if (!job) throw ServiceError.notFound(`no batch job ${JSON.stringify(jobId)}`);
    const run = this.running.get(jobId);
    if (run) {
      run.controller.abort(ServiceError.cancelled('cancelled by CancelJob'));
      await run.done;
    }
    return job.status;
  }

  /** Stops running jobs (they stay resumable: their state on disk says RUNNING) and flushes events. */
  async close(): Promise<void> {
    const runs = [...this.running.values()];
    for (const r of runs) r.controller.abort(ServiceError.unavailable('service shutting down'));
    await Promise.all(runs.map((r) => r.done));
    const producer = await this.producer?.catch(() => undefined);
    await producer?.disconnect();
  }

  private validate(request: BatchRequestMessage): { total: number; pipeline: StableDiffusionPipeline } {
    if (request.shiftName.trim() === '') throw ServiceError.invalidArgument('shift_name is required');
    if (request.outputUri.trim() === '') throw ServiceError.invalidArgument('output_uri is required (a directory or file:// URL for the shift)');
    const source = request.source ?? (request.classPrompts ? 'classPrompts' : request.referenceImages ? 'referenceImages' : undefined);
    if (source === 'classPrompts' && request.classPrompts) {
      const { promptTemplate, wnids, imagesPerClass } = request.classPrompts;
      if (!promptTemplate.includes('{class}')) throw ServiceError.invalidArgument('prompt_template must contain {class}, e.g. "A photo of {class}"');
      if (imagesPerClass < 1) throw ServiceError.invalidArgument('images_per_class must be at least 1');
      const taxonomy = loadImageNetTaxonomy();
      const unknown = wnids.filter((w) => !taxonomy.hasClass(w));
      if (unknown.length > 0) throw ServiceError.invalidArgument(`not ImageNet-1k classes: ${unknown.slice(0, 5).join(', ')}`);
      const pipeline = this.options.models.get(request.sampling?.model ?? '', 'text-to-image');
      pipeline.resolve({ mode: 'text-to-image', prompt: promptTemplate, ...samplingToRequest(request.sampling), seeds: [1n], numImages: 1 });
      return { total: (wnids.length === 0 ? taxonomy.classes.length : wnids.length) * imagesPerClass, pipeline };
    }
    if (source === 'referenceImages' && request.referenceImages) {
      const { inputUri, inputFormat } = request.referenceImages;
      if (inputUri.trim() === '') throw ServiceError.invalidArgument('reference_images.input_uri is required');
      if (!['', 'imagefolder', 'webdataset'].includes(inputFormat)) {
        throw ServiceError.invalidArgument(`reference_images.input_format must be "imagefolder" or "webdataset", got ${JSON.stringify(inputFormat)}`);
      }
      const pipeline = this.options.models.get(request.sampling?.model ?? '', 'image-variation');
      if (pipeline.info.pipeline !== 'image-variation') {
        throw ServiceError.failedPrecondition(`model ${pipeline.info.name} is not an image-variations export; reference-image batches need one`);
      }
      return { total: 0, pipeline };
    }
    throw ServiceError.invalidArgument('a batch needs class_prompts or reference_images');
  }

  private launch(job: StoredJob): void {
    const controller = new AbortController();
    const done = this.run(job, controller.signal).finally(() => this.running.delete(job.status.jobId));
    this.running.set(job.status.jobId, { controller, done });
  }

  private async run(job: StoredJob, signal: AbortSignal): Promise<void> {
    const { status, request } = job;
    const log = this.options.logger.child({ jobId: status.jobId });
    let writer: ShiftWriter | undefined;
    try {
      const { pipeline } = this.validate(request);
      await this.update(job, { state: 'JOB_STATE_RUNNING', message: 'running' }, true);
      const taxonomy = loadImageNetTaxonomy();
      const classes = taxonomy.classes.map((c) => c.wnid);
      const sampling = samplingToRequest(request.sampling);
      const classPrompts = request.classPrompts && (request.source ?? 'classPrompts') === 'classPrompts' ? request.classPrompts : undefined;
      const dir = outputDir(request.outputUri);
      // A suspended shift (an interrupted run of this job, in this process or an earlier one) continues where
      // it stopped, open shard included.
      writer = await ShiftWriter.open(dir, {
        name: request.shiftName,
        strategy: classPrompts ? 'sd-txt2img' : 'sd-img2img',
        params: { ...canonicalRequest(request), model: pipeline.info.name },
        classes,
      });
      const modelIds = { generator: pipeline.info.name };
      let done = 0;
      let lastProgress = 0;
      const startedAt = Date.now();
      const publishProgress = async (): Promise<void> => {
        lastProgress = Date.now();
        await this.update(job, { done: String(done), message: `${done} images` }, false);
        const event: eventsV1.JobProgress = {
          jobId: status.jobId,
          kind: BATCH_JOB_KIND,
          done: String(done),
          total: status.total,
          unit: 'images',
          ratePerS: done / Math.max(1e-3, (Date.now() - startedAt) / 1000),
          message: `${done} images`,
        };
        await this.publish('select.events.v1.JobProgress', status.jobId, event);
      };
      const progress = async (): Promise<void> => {
        done++;
        status.done = String(done);
        if (Date.now() - lastProgress >= (this.options.progressIntervalMs ?? 2000)) await publishProgress();
      };
      const generateOne = async (request: GenerationRequest, sample: Omit<ShiftSample, 'image' | 'extra'>): Promise<void> => {
        if (writer!.has(writer!.idFor(sample))) return progress();
        const [image] = await pipeline.generateAll({ ...request, numImages: 1 }, { signal });
        await writer!.add({ ...sample, image: image!.image, modelIds, extra: { parameters: JSON.parse(image!.parametersJson) as unknown } });
        return progress();
      };

      if (classPrompts) {
        const wnids = classPrompts.wnids.length > 0 ? classPrompts.wnids : classes;
        for (const wnid of wnids) {
          const prompt = classPrompts.promptTemplate.replaceAll('{class}', taxonomy.classByWnid(wnid).label);
          for (let seed = 1; seed <= classPrompts.imagesPerClass; seed++) {
            signal.throwIfAborted();
            await generateOne({ mode: 'text-to-image', prompt, ...sampling, seeds: [BigInt(seed)] }, { sourceId: wnid, wnid, prompt, seed });
          }
        }
      } else {
        const refs = request.referenceImages!;
        const variations = Math.max(1, refs.variationsPerImage);
        const root = outputDir(refs.inputUri);
        const records =
          refs.inputFormat === 'webdataset'
            ? readClassShards({ shards: root, classes, signal })
            : readImageFolder({ root, classes, signal });
        for await (const record of records) {
          if (!record.ok) {
            log.warn({ err: record.error }, 'reference image skipped');
            continue;
          }
          const { sourceId, wnid, image } = record.sample;
          for (let seed = 1; seed <= variations; seed++) {
            signal.throwIfAborted();
            await generateOne(
              { mode: 'image-variation', referenceImage: image.bytes, ...sampling, seeds: [BigInt(seed)] },
              { sourceId, ...(wnid === undefined ? { classIndex: record.sample.classIndex! } : { wnid }), seed },
            );
          }
        }
      }
      await publishProgress();
      const summary = await writer.close();
      writer = undefined;
      await this.update(job, { state: 'JOB_STATE_SUCCEEDED', done: String(done), message: `shift ${summary.name}: ${summary.counts.samples} samples` }, true);
    } catch (err) {
      const reason = signal.aborted ? signal.reason : err;
      const shuttingDown = signal.aborted && (reason as { code?: number } | undefined)?.code === GrpcStatus.UNAVAILABLE;
      // Suspended, never closed: a closed shift is complete, and every unfinished job is meant to be resumable.
      // suspend() keeps the committed shards and the open one and releases the directory for the resume.
      if (writer) {
        await writer.suspend().catch((suspendErr: unknown) => log.warn({ err: suspendErr }, 'could not suspend the shift writer'));
        writer = undefined;
      }
      if (shuttingDown) {
        // Left RUNNING on disk so the next process resumes it.
        await this.update(job, { message: 'interrupted by shutdown; resumes on restart' }, false);
      } else if (signal.aborted) {
        await this.update(job, { state: 'JOB_STATE_CANCELLED', message: 'cancelled; StartBatch with the same request resumes it' }, true);
      } else {
        log.error({ err }, 'batch job failed');
        await this.update(job, { state: 'JOB_STATE_FAILED', message: (err as Error).message }, true);
      }
    }
  }

  private async update(job: StoredJob, patch: Partial<JobStatusMessage>, lifecycle: boolean): Promise<void> {
    Object.assign(job.status, patch, { updatedUnixMs: String(Date.now()) });
    const file = join(this.options.jobsDir!, `${job.status.jobId}.json`);
    await writeFile(`${file}.tmp`, JSON.stringify(job));
    await rename(`${file}.tmp`, file);
    if (lifecycle) {
      const event: eventsV1.JobLifecycle = {
        jobId: job.status.jobId,
        kind: BATCH_JOB_KIND,
        state: job.status.state,
        message: job.status.message,
        paramsJson: JSON.stringify(canonicalRequest(job.request)),
      };
      await this.publish('select.events.v1.JobLifecycle', job.status.jobId, event);
    }
  }

  private async publish(type: string, jobId: string, payload: object): Promise<void> {
    const kafka = this.options.kafka;
    if (!kafka) return;
    this.producer ??= (async () => {
      const p = createEventProducer({ brokers: kafka.brokers, clientId: 'generation-service', source: 'generation-service', topicPrefix: kafka.topicPrefix });
      await p.connect();
      return p;
    })();
    try {
      await (await this.producer).publish('jobs', type, payload, { key: jobId });
    } catch (err) {
      // Events are progress reports: a Kafka outage must not fail the images already being written.
      this.producer = undefined;
      this.options.logger.warn({ err, jobId, type }, 'job event not published');
    }
  }
}

/** The request fields that define the job (its id and the shift's params hash). */
function canonicalRequest(request: BatchRequestMessage): Record<string, unknown> {
  const source = request.source ?? (request.classPrompts ? 'classPrompts' : 'referenceImages');
  return {
    shiftName: request.shiftName,
    outputUri: request.outputUri,
    sampling: request.sampling,
    [source]: source === 'classPrompts' ? request.classPrompts : request.referenceImages,
  };
}

function outputDir(uri: string): string {
  return uri.startsWith('file:') ? fileURLToPath(uri) : resolve(uri);
}
