import type { commonV1 } from '@select/contracts';
import type { CallContext, Logger } from '@select/platform';

/** select.common.v1.JobStatus as services return it (uint64 as decimal strings, enums as 'JOB_STATE_*'). */
export type JobStatus = commonV1.JobStatus__Output;

/** 'JOB_STATE_QUEUED' | 'JOB_STATE_RUNNING' | 'JOB_STATE_SUCCEEDED' | 'JOB_STATE_FAILED' | 'JOB_STATE_CANCELLED'. */
export type JobState = commonV1.JobState__Output;

export const TERMINAL_STATES: ReadonlySet<JobState> = new Set<JobState>(['JOB_STATE_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED']);

/** True for SUCCEEDED, FAILED and CANCELLED: the job will not change again unless it is started again. */
export function isTerminal(state: JobState): boolean {
  return TERMINAL_STATES.has(state);
}

/**
 * A kind of job, declared once by the service that runs it and registered with `JobRuntime.register`.
 * `Request` is what callers pass to start(); `Normalized` what normalize() makes of it (the stored request).
 */
export interface JobKind<Request, State = unknown, Normalized = Request> {
  /** e.g. 'embed-dataset', 'bulk-load', 'generate-batch', 'curate', 'train', 'evaluate-model'. */
  kind: string;
  /** Unit of done/total: 'images', 'vectors', 'samples', 'epochs', ... */
  unit: string;
  /**
   * Validates and normalises the request (defaults filled in, paths made absolute). Throws a ServiceError
   * (INVALID_ARGUMENT, FAILED_PRECONDITION, NOT_FOUND) with a message a user can act on. Runs before any
   * state is written. What it returns is stored in the job's state file, so it must survive JSON.
   */
  normalize(request: Request): Normalized | Promise<Normalized>;
  /** Deterministic id. @default `${kind}-${sha256(canonical JSON of the normalised request).slice(0, 24)}` */
  jobId?(request: Normalized): string;
  /** Where the job writes its results (JobStatus.output_uri). @default '' */
  outputUri?(request: Normalized, jobId: string): string;
  /** JobStatus.total when the job is created (before run() reports any). @default 0 (unknown) */
  initialTotal?(request: Normalized): number;
  /** The status message of a job that resumes from a checkpoint. @default 'resuming from the checkpoint of <time>' */
  resumeMessage?(state: State): string;
  /**
   * The work. Resolve with the final message (SUCCEEDED); throw to fail (FAILED, with the error's message).
   * When ctx.signal aborts: stop at the next safe point, checkpoint, and throw ctx.signal.reason (or return);
   * the runtime tells from the reason whether that was a cancel (-> CANCELLED) or a shutdown (-> stays
   * RUNNING on disk and resumes at the next start).
   */
  run(ctx: JobContext<Normalized, State>): Promise<string | void>;
}

export interface JobContext<Request, State> {
  jobId: string;
  kind: string;
  /** The normalised request. */
  request: Request;
  outputUri: string;
  /** Aborts on CancelJob (reason: a CANCELLED ServiceError) or when the runtime closes (an UNAVAILABLE one). */
  signal: AbortSignal;
  /** The last checkpoint, on resume; undefined on a first start. */
  resumeState: State | undefined;
  /**
   * Durable (fsynced, atomic) before it resolves; records the progress reported so far with it, so call
   * progress() first. Call it after the work it covers is durable.
   */
  checkpoint(state: State): Promise<void>;
  /** Cheap; the runtime persists and publishes progress rate-limited. `total` 0 = unknown, undefined = unchanged. */
  progress(done: number, total?: number, message?: string): void;
  /** Child logger with jobId and kind. */
  logger: Logger;
}

export interface JobRuntimeOptions {
  /** State directory: one JSON file per job (created if missing). */
  dir: string;
  /** e.g. 'curator': the events' source and the producer's client id. */
  service: string;
  /** Jobs running at once; more wait QUEUED. @default 1 */
  concurrency?: number;
  /** Finished jobs kept (state files). @default { maxFinished: 1000, maxAgeMs: 30 days } */
  retention?: { maxFinished?: number; maxAgeMs?: number };
  /**
   * JobLifecycle / JobProgress on select.jobs.v1 (key job_id). brokers @default KAFKA_BROKERS, else
   * 127.0.0.1:9092. @default false (no events)
   */
  events?: { brokers?: string[]; topicPrefix?: string } | false;
  /** Least time between two persisted/published progress reports of a job. @default 1000 */
  progressIntervalMs?: number;
  logger: Logger;
}

export interface JobListFilter {
  /** Only this kind; '' or undefined: all. */
  kind?: string;
  /** Only this state ('JOB_STATE_RUNNING', ...); '', 'JOB_STATE_UNSPECIFIED' or undefined: all. */
  state?: string;
  /** @default 100, at most 1000 */
  pageSize?: number;
  /** nextPageToken of the previous page. */
  pageToken?: string;
}

export interface JobPage {
  /** Newest first (by creation time, then id). */
  jobs: JobStatus[];
  /** '' on the last page. */
  nextPageToken: string;
}

/** The common job API's handlers, as `JobRuntime.grpcHandlers()` and `disabledJobHandlers()` return them. */
export interface JobApiHandlers {
  GetJob: (request: commonV1.JobRef__Output) => JobStatus;
  CancelJob: (request: commonV1.JobRef__Output) => Promise<JobStatus>;
  ListJobs: (request: commonV1.ListJobsRequest__Output) => commonV1.ListJobsResponse;
  WatchJob: (request: commonV1.JobRef__Output, ctx: CallContext) => AsyncIterable<JobStatus>;
}
