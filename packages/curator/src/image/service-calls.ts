// The image steps' calls to the embedding, retrieval and generation services, over gRPC as any user's
// service would make them. Each failure that a user can fix becomes INVALID_ARGUMENT or
// FAILED_PRECONDITION up front; an item that alone fails comes back as that item's error.
import { renderClipart } from '@select/datasets';
import { GrpcCallError, ServiceError, status, unary, type GenericServiceClient } from '@select/platform';
import type { Candidate, StepContext, StepEnvironment } from '../chain/step.js';

/** Longer side of the PNG an SVG candidate is rendered to before it is embedded (as the embedding service's openclipart dataset jobs do). */
export const SVG_RENDER_SIZE = 256;

export interface EmbeddingModelInfo {
  name: string;
  kind: string;
  dimension: number;
  /** `name@sha256-prefix`, for provenance. */
  modelId: string;
}

export function requireClient(env: Pick<StepEnvironment, 'services'>, service: 'embedding' | 'retrieval' | 'generation', step: string): GenericServiceClient {
  const client = env.services[service];
  if (client === undefined) {
    throw ServiceError.failedPrecondition(`${step} needs the ${service} service; configure CURATOR_${service.toUpperCase()}_ADDRESS`);
  }
  return client;
}

/** The model, checked for the towers the step needs (`image`, `text`). */
export async function describeEmbeddingModel(
  env: Pick<StepEnvironment, 'services'>,
  step: string,
  model: string,
  needs: ReadonlyArray<'image' | 'text'>,
): Promise<EmbeddingModelInfo> {
  const client = requireClient(env, 'embedding', step);
  let info: { name: string; kind: string; dimension: number; files: Array<{ sha256: string }> };
  try {
    info = await unary(client, 'GetModel', { name: model }, { deadlineMs: 30_000 });
  } catch (error) {
    if (error instanceof GrpcCallError && error.code === status.NOT_FOUND) {
      throw ServiceError.invalidArgument(`${step}: the embedding service has no model "${model}": ${error.details}`);
    }
    throw ServiceError.unavailable(`${step}: embedding service unreachable: ${(error as Error).message}`, { cause: error });
  }
  if (needs.includes('image') && info.kind === 'MODEL_KIND_TEXT_ONLY') throw ServiceError.invalidArgument(`${step}: model ${model} has no image tower (it is text-only)`);
  if (needs.includes('text') && info.kind === 'MODEL_KIND_IMAGE_ONLY') throw ServiceError.invalidArgument(`${step}: model ${model} has no text tower (it is image-only)`);
  return { name: info.name, kind: info.kind, dimension: info.dimension, modelId: `${info.name}@${(info.files[0]?.sha256 ?? '').slice(0, 12)}` };
}

/** Text embeddings, one per text; an entry is an Error when that text alone failed. */
export async function embedTexts(client: GenericServiceClient, model: string, texts: readonly string[], signal: AbortSignal): Promise<Array<Float32Array | Error>> {
  const out: Array<Float32Array | Error> = [];
  for (let start = 0; start < texts.length; start += 256) {
    const slice = texts.slice(start, start + 256);
    const response = await unary<{ embeddings: Array<{ vector: number[]; error?: { message: string } | null }> }>(
      client,
      'EmbedTexts',
      { model, texts: slice },
      { signal, deadlineMs: 300_000 },
    );
    for (const e of response.embeddings) out.push(e.error ? new Error(e.error.message) : Float32Array.from(e.vector));
  }
  return out;
}

/** The bytes the embedding service can decode: SVG clip art is rendered to PNG first. */
export async function embeddableBytes(candidate: Candidate, ctx: Pick<StepContext, 'loadImage'>): Promise<Buffer> {
  return rasterOf(candidate, await ctx.loadImage(candidate));
}

/** A candidate's loaded bytes as a raster image: SVG clip art rendered to PNG (as the build publishes it), others unchanged. */
export async function rasterOf(candidate: Candidate, bytes: Buffer): Promise<Buffer> {
  const svg = candidate.image?.format === 'svg' || candidate.image?.path?.endsWith('.svg') === true;
  return svg ? renderClipart(bytes, SVG_RENDER_SIZE) : bytes;
}

/**
 * Image embeddings through the EmbedImages stream, one per input in order; an entry is an Error when
 * that image alone failed (unreadable, undecodable).
 */
export async function embedImages(
  client: GenericServiceClient,
  model: string,
  images: ReadonlyArray<Buffer | Error>,
  signal: AbortSignal,
): Promise<Array<Float32Array | Error>> {
  const out: Array<Float32Array | Error> = images.map((i) => (i instanceof Error ? i : new Error('no response')));
  const todo = images.map((img, i) => ({ img, i })).filter((x): x is { img: Buffer; i: number } => !(x.img instanceof Error));
  if (todo.length === 0) return out;
  signal.throwIfAborted();
  const call = (client as unknown as { EmbedImages(options: { deadline: number }): DuplexCall }).EmbedImages({
    deadline: Date.now() + 600_000,
  });
  const onAbort = (): void => call.cancel();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (response: { itemId: string; embedding?: { vector: number[] } | null; error?: { message: string } | null }) => {
        const i = Number(response.itemId);
        out[i] = response.embedding ? Float32Array.from(response.embedding.vector) : new Error(response.error?.message ?? 'no embedding');
      });
      call.on('error', reject);
      call.on('end', resolve);
    });
    for (const { img, i } of todo) {
      if (!call.write({ itemId: String(i), model, image: img })) await new Promise((r) => call.once('drain', r));
    }
    call.end();
    await done;
  } catch (error) {
    signal.throwIfAborted();
    throw error instanceof GrpcCallError ? error : ServiceError.unavailable(`EmbedImages failed: ${(error as Error).message}`, { cause: error });
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  return out;
}

/** Image embeddings of candidates (bytes loaded, SVG rendered); an unreadable candidate is that candidate's Error. */
export async function embedCandidateImages(client: GenericServiceClient, model: string, candidates: readonly Candidate[], ctx: StepContext): Promise<Array<Float32Array | Error>> {
  const images = await Promise.all(
    candidates.map(async (c) => {
      try {
        return await embeddableBytes(c, ctx);
      } catch (error) {
        return new Error(`unreadable image: ${(error as Error).message}`);
      }
    }),
  );
  return embedImages(client, model, images, ctx.signal);
}

/** The bidi EmbedImages call as grpc-js gives it. */
interface DuplexCall {
  write(message: unknown): boolean;
  end(): void;
  cancel(): void;
  on(event: string, listener: (...args: never[]) => void): void;
  once(event: string, listener: (...args: never[]) => void): void;
}

export interface JobStatus {
  jobId: string;
  state: string;
  message: string;
  /** Units done and planned (uint64 as decimal strings; total '0' while unknown) and their unit. */
  done?: string;
  total?: string;
  unit?: string;
}

/**
 * A job's progress as a user reads it: `1200/7458 images`, `1200 images` while the total is unknown, the
 * service's word while it waits for a slot (`queued behind 1 running job(s)`), else `starting`.
 */
export function jobProgressText(job: JobStatus): string {
  const done = Number(job.done ?? 0);
  const total = Number(job.total ?? 0);
  const unit = job.unit ? ` ${job.unit}` : '';
  if (job.state === 'JOB_STATE_QUEUED') return job.message || 'queued';
  if (total > 0) return `${done}/${total}${unit}`;
  return done > 0 ? `${done}${unit}` : 'starting';
}

export interface WaitOptions {
  /** @default 250 */
  pollMs?: number;
  /** Called with every status read while the job runs (progress for the build's status). */
  onStatus?: (job: JobStatus) => void;
}

/** Polls GetJob until the job ends; a failed or cancelled job is FAILED_PRECONDITION with its message. */
export async function waitForJob(client: GenericServiceClient, started: JobStatus, what: string, signal: AbortSignal, options: WaitOptions = {}): Promise<JobStatus> {
  let job = started;
  while (job.state === 'JOB_STATE_RUNNING' || job.state === 'JOB_STATE_QUEUED') {
    options.onStatus?.(job);
    signal.throwIfAborted();
    await new Promise((r) => setTimeout(r, options.pollMs ?? 250));
    job = await unary<JobStatus>(client, 'GetJob', { jobId: job.jobId }, { signal, deadlineMs: 30_000 });
  }
  if (job.state !== 'JOB_STATE_SUCCEEDED') throw ServiceError.failedPrecondition(`${what} (job ${job.jobId}) ended ${job.state}: ${job.message}`);
  return job;
}
