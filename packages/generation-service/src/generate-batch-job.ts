import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { commonV1, generationV1 } from '@select/contracts';
import { readClassShards, readImageFolder, ShiftWriter, type ShiftSample } from '@select/datasets';
import type { GenerationRequest, StableDiffusionPipeline } from '@select/diffusion';
import { JobRuntime, disabledJobHandlers, refuseJobStart, type JobApiHandlers, type JobKind } from '@select/jobs';
import { ServiceError, type Logger } from '@select/platform';
import { loadImageNetTaxonomy } from '@select/taxonomy';
import type { ModelRegistry } from './model-registry.js';
import { samplingToRequest } from './request-mapping.js';

export const BATCH_JOB_KIND = 'generate-batch';

/** select.generation.v1.BatchRequest as the server receives it. */
export type BatchRequestMessage = generationV1.BatchRequest__Output;

/** select.common.v1.JobStatus as the service returns it. */
export type JobStatusMessage = commonV1.JobStatus__Output;

/** The request fields that define a batch (its job id and the shift's params hash), one source only. */
export interface BatchParams {
  shiftName: string;
  outputUri: string;
  sampling: BatchRequestMessage['sampling'];
  classPrompts?: generationV1.ClassPrompts__Output;
  referenceImages?: generationV1.ReferenceImages__Output;
}

function outputDir(uri: string): string {
  return uri.startsWith('file:') ? fileURLToPath(uri) : resolve(uri);
}

/** Checks a batch and resolves its pipeline; `total` is 0 (unknown) for reference images. */
function validate(models: ModelRegistry, request: BatchParams): { total: number; pipeline: StableDiffusionPipeline } {
  if (request.shiftName.trim() === '') throw ServiceError.invalidArgument('shift_name is required');
  if (request.outputUri.trim() === '') throw ServiceError.invalidArgument('output_uri is required (a directory or file:// URL for the shift)');
  if (request.classPrompts) {
    const { promptTemplate, wnids, imagesPerClass } = request.classPrompts;
    if (!promptTemplate.includes('{class}')) throw ServiceError.invalidArgument('prompt_template must contain {class}, e.g. "A photo of {class}"');
    if (imagesPerClass < 1) throw ServiceError.invalidArgument('images_per_class must be at least 1');
    const taxonomy = loadImageNetTaxonomy();
    const unknown = wnids.filter((w) => !taxonomy.hasClass(w));
    if (unknown.length > 0) throw ServiceError.invalidArgument(`not ImageNet-1k classes: ${unknown.slice(0, 5).join(', ')}`);
    const pipeline = models.get(request.sampling?.model ?? '', 'text-to-image');
    pipeline.resolve({ mode: 'text-to-image', prompt: promptTemplate, ...samplingToRequest(request.sampling), seeds: [1n], numImages: 1 });
    return { total: (wnids.length === 0 ? taxonomy.classes.length : wnids.length) * imagesPerClass, pipeline };
  }
  if (request.referenceImages) {
    const { inputUri, inputFormat } = request.referenceImages;
    if (inputUri.trim() === '') throw ServiceError.invalidArgument('reference_images.input_uri is required');
    if (!['', 'imagefolder', 'webdataset'].includes(inputFormat)) {
      throw ServiceError.invalidArgument(`reference_images.input_format must be "imagefolder" or "webdataset", got ${JSON.stringify(inputFormat)}`);
    }
    const pipeline = models.get(request.sampling?.model ?? '', 'image-variation');
    if (pipeline.info.pipeline !== 'image-variation') {
      throw ServiceError.failedPrecondition(`model ${pipeline.info.name} is not an image-variations export; reference-image batches need one`);
    }
    return { total: 0, pipeline };
  }
  throw ServiceError.invalidArgument('a batch needs class_prompts or reference_images');
}

/**
 * Batch generation into a shift, the way SD1000 was built: "A photo of {class}" with seeds 1..N per class, or
 * N variations of every reference image (label inherited). The job id is a hash of the request, so starting
 * the same request again — after a crash, a cancel or a restart — resumes it: the shift writer is the
 * checkpoint (it knows which (source, seed) samples are written, and those are skipped).
 */
export function generateBatchJob(models: ModelRegistry): JobKind<BatchRequestMessage, never, BatchParams> {
  return {
    kind: BATCH_JOB_KIND,
    unit: 'images',
    normalize(request) {
      const source = request.source ?? (request.classPrompts ? 'classPrompts' : request.referenceImages ? 'referenceImages' : undefined);
      const params: BatchParams = {
        shiftName: request.shiftName,
        outputUri: request.outputUri,
        sampling: request.sampling,
        ...(source === 'classPrompts' && request.classPrompts ? { classPrompts: request.classPrompts } : {}),
        ...(source === 'referenceImages' && request.referenceImages ? { referenceImages: request.referenceImages } : {}),
      };
      validate(models, params);
      return params;
    },
    outputUri: (params) => params.outputUri,
    initialTotal: (params) => validate(models, params).total,
    async run(ctx) {
      const request = ctx.request;
      const { signal } = ctx;
      const { pipeline, total } = validate(models, request);
      const taxonomy = loadImageNetTaxonomy();
      const classes = taxonomy.classes.map((c) => c.wnid);
      const sampling = samplingToRequest(request.sampling);
      const classPrompts = request.classPrompts;
      // A suspended shift (an interrupted run of this job, in this process or an earlier one) continues where
      // it stopped, open shard included.
      const writer = await ShiftWriter.open(outputDir(request.outputUri), {
        name: request.shiftName,
        strategy: classPrompts ? 'sd-txt2img' : 'sd-img2img',
        params: { ...request, model: pipeline.info.name },
        classes,
      });
      let suspendable = true;
      try {
        const modelIds = { generator: pipeline.info.name };
        let done = 0;
        const generateOne = async (generation: GenerationRequest, sample: Omit<ShiftSample, 'image' | 'extra'>): Promise<void> => {
          if (!writer.has(writer.idFor(sample))) {
            const [image] = await pipeline.generateAll({ ...generation, numImages: 1 }, { signal });
            await writer.add({ ...sample, image: image!.image, modelIds, extra: { parameters: JSON.parse(image!.parametersJson) as unknown } });
          }
          done++;
          ctx.progress(done, total, `${done} images`);
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
          const records = refs.inputFormat === 'webdataset' ? readClassShards({ shards: root, classes, signal }) : readImageFolder({ root, classes, signal });
          for await (const record of records) {
            if (!record.ok) {
              ctx.logger.warn({ err: record.error }, 'reference image skipped');
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
        const summary = await writer.close();
        suspendable = false;
        return `shift ${summary.name}: ${summary.counts.samples} samples`;
      } catch (err) {
        // Suspended, never closed: a closed shift is complete, and every unfinished job is meant to be resumable.
        // suspend() keeps the committed shards and the open one and releases the directory for the resume.
        if (suspendable) await writer.suspend().catch((suspendErr: unknown) => ctx.logger.warn({ err: suspendErr }, 'could not suspend the shift writer'));
        throw signal.aborted ? signal.reason : err;
      }
    },
  };
}

export interface BatchJobsOptions {
  /** Where job state lives; undefined: StartBatch is refused with FAILED_PRECONDITION. */
  jobsDir: string | undefined;
  logger: Logger;
  /** Kafka for JobLifecycle/JobProgress; undefined publishes nothing. */
  kafka: { brokers: string[]; topicPrefix: string } | undefined;
  /** Minimum time between two JobProgress events (and state writes) of a job. @default 2000 */
  progressIntervalMs?: number;
  /** Batches running at once; more wait QUEUED. @default 1 */
  concurrency?: number;
}

/** The generation service's job runtime with the batch job registered (not resumed yet); undefined when jobs are off. */
export async function openBatchJobs(models: ModelRegistry, options: BatchJobsOptions): Promise<JobRuntime | undefined> {
  if (options.jobsDir === undefined) return undefined;
  const jobs = await JobRuntime.open({
    dir: options.jobsDir,
    service: 'generation-service',
    logger: options.logger,
    progressIntervalMs: options.progressIntervalMs ?? 2000,
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    events: options.kafka ?? false,
  });
  return jobs.register(generateBatchJob(models));
}

/** StartBatch and the common job API (GetJob, CancelJob, ListJobs, WatchJob). */
export function batchJobHandlers(jobs: JobRuntime | undefined): JobApiHandlers & { StartBatch: (request: BatchRequestMessage) => Promise<JobStatusMessage> } {
  if (!jobs) {
    const reason = 'batch jobs are disabled: set GENERATION_JOBS_DIR';
    return { StartBatch: refuseJobStart(reason), ...disabledJobHandlers(reason) };
  }
  return { StartBatch: (request: BatchRequestMessage) => jobs.start(BATCH_JOB_KIND, request), ...jobs.grpcHandlers() };
}
