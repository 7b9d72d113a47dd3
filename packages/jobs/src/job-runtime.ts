import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { commonV1 } from '@select/contracts';
import { ServiceError, isServiceError, status as GrpcStatus, writeFileAtomic, type CallContext, type Logger } from '@select/platform';
import { JOB_ID_PATTERN, canonicalJson, defaultJobId } from './canonical-json.js';
import { JobEvents } from './job-events.js';
import { isTerminal, type JobApiHandlers, type JobKind, type JobListFilter, type JobPage, type JobRuntimeOptions, type JobState, type JobStatus } from './job-kind.js';
import { decodePageToken, encodePageToken } from './page-token.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** @default values of JobRuntimeOptions. */
export const JOB_RUNTIME_DEFAULTS = {
  concurrency: 1,
  maxFinished: 1000,
  maxAgeMs: 30 * DAY_MS,
  progressIntervalMs: 1000,
  pageSize: 100,
  maxPageSize: 1000,
} as const;

/** Version of the state file format (see README). */
export const JOB_FILE_VERSION = 1;

/** A job's state file: `<dir>/<jobId>.json`. */
export interface JobFile<Request = unknown, State = unknown> {
  version: typeof JOB_FILE_VERSION;
  /** The normalised request. */
  request: Request;
  status: JobStatus;
  /** The last checkpoint: the job's own resume state, and the progress it covers. */
  checkpoint: { state: State; done: string; total: string; unixMs: number } | null;
}

type AnyKind = JobKind<unknown, unknown, unknown>;

interface Entry {
  file: JobFile;
  path: string;
  /** Set while run() is in progress. */
  run?: { controller: AbortController; done: Promise<void> };
  /** Waiting for a free slot. */
  queued: boolean;
  /** Between taking a slot and run() starting: the write of the RUNNING state. */
  starting?: Promise<void>;
  /** Serialises the writes of this job's file. */
  writes: Promise<void>;
  /** Bumped at every change watchers should see. */
  version: number;
  changed: Array<() => void>;
  /** Progress reports: the last one persisted/published, and the timer of a deferred one. */
  reportedAt: number;
  reportedDone: string;
  reportTimer?: NodeJS.Timeout;
}

/** Why a job was aborted; the runtime tells cancel from shutdown by these. */
const cancelReason = (): ServiceError => ServiceError.cancelled('cancelled by CancelJob');
const shutdownReason = (): ServiceError => ServiceError.unavailable('the service is shutting down');
const isShutdown = (reason: unknown): boolean => isServiceError(reason) && reason.code === GrpcStatus.UNAVAILABLE;

/**
 * Runs every long job of a service: durable per-job state, a concurrency limit with a queue, deterministic
 * ids (the same request is the same job), cancel, checkpoints and resume after a stop or a crash,
 * retention of finished jobs, lifecycle and progress events, and the gRPC handlers of the common job API.
 * See README.md for the state file format and what resume guarantees.
 */
export class JobRuntime {
  private readonly kinds = new Map<string, AnyKind>();
  private readonly jobs = new Map<string, Entry>();
  private readonly waiting: Entry[] = [];
  private readonly events: JobEvents;
  private readonly concurrency: number;
  private readonly maxFinished: number;
  private readonly maxAgeMs: number;
  private readonly progressIntervalMs: number;
  private readonly logger: Logger;
  private running = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly closedWaiters = new Set<() => void>();

  private constructor(private readonly options: JobRuntimeOptions) {
    this.logger = options.logger;
    this.concurrency = Math.max(1, Math.floor(options.concurrency ?? JOB_RUNTIME_DEFAULTS.concurrency));
    this.maxFinished = Math.max(0, options.retention?.maxFinished ?? JOB_RUNTIME_DEFAULTS.maxFinished);
    this.maxAgeMs = Math.max(0, options.retention?.maxAgeMs ?? JOB_RUNTIME_DEFAULTS.maxAgeMs);
    this.progressIntervalMs = Math.max(0, options.progressIntervalMs ?? JOB_RUNTIME_DEFAULTS.progressIntervalMs);
    this.events = new JobEvents(options.events ? { service: options.service, ...options.events } : false, options.logger);
  }

  /** Reads every state file of `options.dir` (unreadable ones are logged and skipped) and applies retention. */
  static async open(options: JobRuntimeOptions): Promise<JobRuntime> {
    const runtime = new JobRuntime(options);
    await mkdir(options.dir, { recursive: true });
    for (const name of await readdir(options.dir)) {
      // A crash during a state write leaves its temp file; the state file itself is whole (old or new).
      if (name.endsWith('.json.tmp')) await unlink(join(options.dir, name)).catch(() => undefined);
      if (!name.endsWith('.json')) continue;
      const path = join(options.dir, name);
      try {
        const file = JSON.parse(await readFile(path, 'utf8')) as JobFile;
        if (file.version !== JOB_FILE_VERSION) throw new Error(`unknown state file version ${String(file.version)}`);
        if (`${file.status.jobId}.json` !== name) throw new Error(`the file holds job ${file.status.jobId}`);
        runtime.jobs.set(file.status.jobId, runtime.entry(file, path));
      } catch (err) {
        options.logger.warn({ err, path }, 'job state file unreadable; the job is not listed');
      }
    }
    await runtime.applyRetention();
    return runtime;
  }

  /** Declares a job kind; register every kind before resume(). */
  register<R, S, N>(kind: JobKind<R, S, N>): this {
    if (this.kinds.has(kind.kind)) throw new Error(`job kind ${kind.kind} is already registered`);
    this.kinds.set(kind.kind, kind as unknown as AnyKind);
    return this;
  }

  /** Restarts every unfinished job (QUEUED or RUNNING on disk) of a registered kind from its last checkpoint. */
  async resume(): Promise<void> {
    const unfinished = [...this.jobs.values()]
      .filter((e) => !isTerminal(e.file.status.state) && !e.run && !e.queued && !e.starting)
      .sort((a, b) => Number(a.file.status.createdUnixMs) - Number(b.file.status.createdUnixMs));
    for (const entry of unfinished) {
      const { jobId, kind } = entry.file.status;
      if (!this.kinds.has(kind)) {
        this.logger.warn({ jobId, kind }, 'unfinished job of an unregistered kind is not resumed');
        continue;
      }
      this.logger.info({ jobId, kind, done: entry.file.checkpoint?.done ?? '0' }, 'resuming job interrupted by a stop');
      await this.schedule(entry);
    }
  }

  /**
   * Starts the job of a request. Same normalised request = same id = same job: a running, queued or
   * succeeded one is reported as it is; a stopped, cancelled or failed one resumes from its last checkpoint.
   * The state file is durable before this resolves.
   */
  async start<R>(kindName: string, request: R): Promise<JobStatus> {
    const kind = this.kinds.get(kindName);
    if (!kind) throw ServiceError.invalidArgument(`no job kind "${kindName}" on this service; kinds: ${[...this.kinds.keys()].join(', ')}`);
    if (this.closed) throw ServiceError.unavailable('the service is shutting down; start the job again once it is back');
    const normalized = (await kind.normalize(request)) as unknown;
    const jobId = kind.jobId ? kind.jobId(normalized) : defaultJobId(kind.kind, normalized);
    if (!JOB_ID_PATTERN.test(jobId)) throw new Error(`job kind ${kind.kind} made an id unfit for a file name: ${JSON.stringify(jobId)}`);
    if (this.closed) throw ServiceError.unavailable('the service is shutting down; start the job again once it is back');
    const existing = this.jobs.get(jobId);
    if (existing) {
      // A job that just ended is still writing its last state; start again once it has.
      if (existing.run && isTerminal(existing.file.status.state)) await existing.run.done;
      if (existing.run || existing.queued || existing.starting || existing.file.status.state === 'JOB_STATE_SUCCEEDED') return this.snapshot(existing);
      await this.schedule(existing);
      return this.snapshot(existing);
    }
    const now = String(Date.now());
    const file: JobFile = {
      version: JOB_FILE_VERSION,
      request: normalized,
      status: {
        jobId,
        kind: kind.kind,
        state: 'JOB_STATE_QUEUED',
        done: '0',
        total: String(Math.max(0, Math.floor(kind.initialTotal?.(normalized) ?? 0))),
        unit: kind.unit,
        message: 'queued',
        createdUnixMs: now,
        updatedUnixMs: now,
        outputUri: kind.outputUri?.(normalized, jobId) ?? '',
      },
      checkpoint: null,
    };
    const entry = this.entry(file, join(this.options.dir, `${jobId}.json`));
    this.jobs.set(jobId, entry);
    await this.schedule(entry);
    return this.snapshot(entry);
  }

  /** The job's status; NOT_FOUND when there is none with that id. */
  get(jobId: string): JobStatus {
    return this.snapshot(this.require(jobId));
  }

  /**
   * Cancels a queued or running job (a running one stops at its next safe point, checkpointed; starting the
   * same request resumes it). A finished job is reported as it is.
   */
  async cancel(jobId: string): Promise<JobStatus> {
    const entry = this.require(jobId);
    if (entry.starting) await entry.starting;
    if (entry.run) {
      if (!entry.run.controller.signal.aborted) entry.run.controller.abort(cancelReason());
      await entry.run.done;
    } else if (entry.queued) {
      this.waiting.splice(this.waiting.indexOf(entry), 1);
      entry.queued = false;
      await this.transition(entry, 'JOB_STATE_CANCELLED', 'cancelled before it started; start the same request to run it');
    }
    return this.snapshot(entry);
  }

  /** Jobs newest first, filtered by kind and state, in pages; INVALID_ARGUMENT for a bad token or size. */
  list(filter: JobListFilter = {}): JobPage {
    const pageSize = filter.pageSize ?? 0;
    if (!Number.isInteger(pageSize) || pageSize < 0) throw ServiceError.invalidArgument(`page_size must be 0 (the default, ${JOB_RUNTIME_DEFAULTS.pageSize}) or more, got ${pageSize}`);
    const size = Math.min(pageSize || JOB_RUNTIME_DEFAULTS.pageSize, JOB_RUNTIME_DEFAULTS.maxPageSize);
    const state = filter.state && filter.state !== 'JOB_STATE_UNSPECIFIED' ? filter.state : undefined;
    const after = filter.pageToken ? decodePageToken(filter.pageToken) : undefined;
    const sorted = [...this.jobs.values()]
      .map((e) => e.file.status)
      .filter((s) => (!filter.kind || s.kind === filter.kind) && (!state || s.state === state))
      .sort(newestFirst);
    const start = after ? sorted.findIndex((s) => newestFirst(s, { createdUnixMs: String(after.createdUnixMs), jobId: after.jobId }) > 0) : 0;
    const from = start < 0 ? sorted.length : start;
    const page = sorted.slice(from, from + size);
    const last = page.at(-1);
    const more = from + size < sorted.length && last !== undefined;
    return {
      jobs: page.map((s) => ({ ...s })),
      nextPageToken: more ? encodePageToken({ createdUnixMs: Number(last.createdUnixMs), jobId: last.jobId }) : '',
    };
  }

  /**
   * The job's status now, then after every change (progress at most every progressIntervalMs); ends after
   * a terminal status, when `signal` aborts or when the runtime closes. NOT_FOUND when there is no such job.
   */
  async *watch(jobId: string, signal?: AbortSignal): AsyncGenerator<JobStatus> {
    const entry = this.require(jobId);
    let seen = -1;
    for (;;) {
      if (signal?.aborted) return;
      if (entry.version !== seen) {
        seen = entry.version;
        const status = this.snapshot(entry);
        yield status;
        if (isTerminal(status.state)) return;
      }
      if (this.closed && !entry.run) return;
      await this.nextChange(entry, signal);
    }
  }

  /** Resolves at a terminal status (or, when the runtime closes first, with the status it left). */
  async wait(jobId: string): Promise<JobStatus> {
    let last = this.get(jobId);
    for await (const status of this.watch(jobId)) last = status;
    return last;
  }

  /**
   * Stops the runtime: running jobs are aborted as a shutdown (they checkpoint and stay RUNNING on disk),
   * queued ones stay QUEUED; at the next open() + resume() both continue. Waits for the jobs, the state
   * writes and the queued events.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      const runs = [...this.jobs.values()].flatMap((e) => (e.run ? [e.run] : []));
      for (const r of runs) if (!r.controller.signal.aborted) r.controller.abort(shutdownReason());
      await Promise.all(runs.map((r) => r.done));
      this.waiting.length = 0;
      await Promise.all([...this.jobs.values()].map((e) => e.writes));
      for (const wake of [...this.closedWaiters]) wake();
      for (const e of this.jobs.values()) this.notify(e);
      await this.events.close();
    })();
    return this.closing;
  }

  /**
   * Handlers of the common job API for GrpcServer.addService: GetJob, CancelJob, ListJobs and WatchJob (a
   * server stream that ends at a terminal state and stops on the call's deadline or client cancel).
   */
  grpcHandlers(): JobApiHandlers {
    return {
      GetJob: (request: commonV1.JobRef__Output): JobStatus => this.get(request.jobId),
      CancelJob: (request: commonV1.JobRef__Output): Promise<JobStatus> => this.cancel(request.jobId),
      ListJobs: (request: commonV1.ListJobsRequest__Output): commonV1.ListJobsResponse => this.list(request),
      WatchJob: (request: commonV1.JobRef__Output, ctx: CallContext): AsyncIterable<JobStatus> => this.watchCall(request.jobId, ctx.signal),
    };
  }

  /** watch() for a WatchJob call: a stream that ends OK has reached a terminal state; a stop ends it UNAVAILABLE. */
  private async *watchCall(jobId: string, signal: AbortSignal): AsyncGenerator<JobStatus> {
    let last: JobStatus | undefined;
    for await (const status of this.watch(jobId, signal)) {
      last = status;
      yield status;
    }
    if (last && !isTerminal(last.state) && !signal.aborted) {
      throw ServiceError.unavailable(`the service is stopping; job ${jobId} resumes when it is back: watch it again then`);
    }
  }

  // ---- internals ----

  private entry(file: JobFile, path: string): Entry {
    return { file, path, queued: false, writes: Promise.resolve(), version: 0, changed: [], reportedAt: 0, reportedDone: file.status.done };
  }

  private require(jobId: string): Entry {
    const entry = this.jobs.get(jobId);
    if (!entry) throw ServiceError.notFound(`no job ${JSON.stringify(jobId)} on this service`, { details: { jobId } });
    return entry;
  }

  private snapshot(entry: Entry): JobStatus {
    return { ...entry.file.status };
  }

  /** Runs the job now if a slot is free, else queues it (persisted as QUEUED). */
  private async schedule(entry: Entry): Promise<void> {
    const kind = this.kinds.get(entry.file.status.kind)!;
    const resumed = entry.file.checkpoint !== null;
    // A resumed job's progress goes back to what its checkpoint covers: the work after it is done again.
    entry.file.status.done = entry.file.checkpoint?.done ?? '0';
    if (entry.file.checkpoint) entry.file.status.total = entry.file.checkpoint.total;
    entry.reportedDone = entry.file.status.done;
    const message = resumed
      ? (kind.resumeMessage?.(entry.file.checkpoint!.state) ?? `resuming from the checkpoint of ${new Date(entry.file.checkpoint!.unixMs).toISOString()}`)
      : 'running';
    if (this.running < this.concurrency) {
      this.running++;
      // Claimed before the first await, so a concurrent start() of the same request sees a starting job;
      // the job runs once its RUNNING state is durable.
      const saved = this.transition(entry, 'JOB_STATE_RUNNING', message);
      entry.starting = saved.catch(() => undefined);
      try {
        await saved;
      } catch (err) {
        this.running--;
        throw err;
      } finally {
        entry.starting = undefined;
      }
      if (this.closed) {
        // close() began meanwhile: the job stays RUNNING on disk and resumes at the next start.
        this.running--;
        return;
      }
      this.launch(entry, kind);
    } else {
      entry.queued = true;
      this.waiting.push(entry);
      await this.transition(entry, 'JOB_STATE_QUEUED', `queued behind ${this.running} running job(s)${resumed ? '; it resumes from its checkpoint' : ''}`);
    }
  }

  private launch(entry: Entry, kind: AnyKind): void {
    const controller = new AbortController();
    const { status } = entry.file;
    const logger = this.logger.child({ jobId: status.jobId, kind: status.kind });
    const startedAt = Date.now();
    const doneAtStart = Number(status.done);
    const ctx = {
      jobId: status.jobId,
      kind: status.kind,
      request: entry.file.request,
      outputUri: status.outputUri,
      signal: controller.signal,
      resumeState: entry.file.checkpoint?.state,
      logger,
      checkpoint: async (state: unknown): Promise<void> => {
        entry.file.checkpoint = { state, done: status.done, total: status.total, unixMs: Date.now() };
        status.updatedUnixMs = String(Date.now());
        await this.save(entry);
      },
      progress: (done: number, total?: number, message?: string): void => {
        status.done = String(Math.max(0, Math.floor(done)));
        if (total !== undefined) status.total = String(Math.max(0, Math.floor(total)));
        if (message !== undefined) status.message = message;
        status.updatedUnixMs = String(Date.now());
        this.reportProgress(entry, startedAt, doneAtStart, false);
      },
    };
    const done = (async () => {
      let outcome: { ok: true; message: string | void } | { ok: false; error: unknown };
      try {
        // A job starts after start() has answered, never inside it.
        await Promise.resolve();
        outcome = { ok: true, message: await kind.run(ctx) };
      } catch (error) {
        outcome = { ok: false, error };
      }
      clearTimeout(entry.reportTimer);
      entry.reportTimer = undefined;
      this.reportProgress(entry, startedAt, doneAtStart, true);
      const aborted = controller.signal.aborted;
      try {
        if (aborted && isShutdown(controller.signal.reason)) {
          // Stays RUNNING on disk: the next start resumes it from its checkpoint.
          status.message = 'interrupted by a service stop; it resumes from its last checkpoint at the next start';
          status.updatedUnixMs = String(Date.now());
          await this.save(entry);
          logger.info({ done: status.done }, 'job interrupted by shutdown');
        } else if (aborted && (!outcome.ok || outcome.message === undefined)) {
          await this.transition(entry, 'JOB_STATE_CANCELLED', 'cancelled; start the same request to resume it from its last checkpoint');
          logger.info({ done: status.done }, 'job cancelled');
        } else if (outcome.ok) {
          await this.transition(entry, 'JOB_STATE_SUCCEEDED', outcome.message || 'done');
          logger.info({ done: status.done, total: status.total }, 'job succeeded');
        } else {
          const error = outcome.error;
          await this.transition(entry, 'JOB_STATE_FAILED', error instanceof Error ? error.message : String(error));
          logger.error({ err: error }, 'job failed');
        }
      } catch (err) {
        logger.error({ err }, 'job state could not be written');
      }
      entry.run = undefined;
      this.running--;
      this.notify(entry);
      await this.next();
      await this.applyRetention().catch((err: unknown) => this.logger.warn({ err }, 'job retention failed'));
    })();
    entry.run = { controller, done };
  }

  /** Starts queued jobs while slots are free. */
  private async next(): Promise<void> {
    while (!this.closed && this.running < this.concurrency && this.waiting.length > 0) {
      const entry = this.waiting.shift()!;
      entry.queued = false;
      await this.schedule(entry);
    }
  }

  /** A state change: persisted, published as JobLifecycle, seen by watchers. */
  private async transition(entry: Entry, state: JobState, message: string): Promise<void> {
    const { status } = entry.file;
    Object.assign(status, { state, message, updatedUnixMs: String(Date.now()) });
    const saved = this.save(entry);
    this.notify(entry);
    this.events.lifecycle({ jobId: status.jobId, kind: status.kind, state, message, paramsJson: canonicalJson(entry.file.request) });
    await saved;
  }

  /** Persists and publishes progress at most every progressIntervalMs; a report held back goes out when that has passed. */
  private reportProgress(entry: Entry, startedAt: number, doneAtStart: number, final: boolean): void {
    const { status } = entry.file;
    const now = Date.now();
    const wait = entry.reportedAt + this.progressIntervalMs - now;
    if (final ? status.done === entry.reportedDone : false) return;
    if (!final && wait > 0) {
      entry.reportTimer ??= setTimeout(() => {
        entry.reportTimer = undefined;
        if (entry.run) this.reportProgress(entry, startedAt, doneAtStart, false);
      }, wait).unref();
      return;
    }
    entry.reportedAt = now;
    entry.reportedDone = status.done;
    const seconds = (now - startedAt) / 1000;
    this.events.progress({
      jobId: status.jobId,
      kind: status.kind,
      done: status.done,
      total: status.total,
      unit: status.unit,
      ratePerS: seconds > 0 ? Math.max(0, Number(status.done) - doneAtStart) / seconds : 0,
      message: status.message,
    });
    this.notify(entry);
    if (!final) {
      this.save(entry).catch((err: unknown) => this.logger.warn({ err, jobId: status.jobId }, 'job progress not persisted'));
    }
  }

  /** Writes the job's state file (atomic, fsynced); writes of one job never overlap. */
  private save(entry: Entry): Promise<void> {
    const text = JSON.stringify(entry.file, null, 1);
    const write = entry.writes.then(() => writeFileAtomic(entry.path, text));
    entry.writes = write.catch(() => undefined);
    return write;
  }

  private notify(entry: Entry): void {
    entry.version++;
    for (const wake of entry.changed.splice(0)) wake();
  }

  private nextChange(entry: Entry, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        signal?.removeEventListener('abort', done);
        this.closedWaiters.delete(done);
        resolve();
      };
      entry.changed.push(done);
      this.closedWaiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Drops finished jobs beyond maxFinished (oldest first) and those finished more than maxAgeMs ago. */
  private async applyRetention(): Promise<void> {
    const finished = [...this.jobs.values()]
      .filter((e) => isTerminal(e.file.status.state) && !e.run && !e.queued)
      .sort((a, b) => Number(b.file.status.updatedUnixMs) - Number(a.file.status.updatedUnixMs));
    const oldest = Date.now() - this.maxAgeMs;
    const drop = finished.filter((e, i) => i >= this.maxFinished || Number(e.file.status.updatedUnixMs) < oldest);
    for (const entry of drop) {
      this.jobs.delete(entry.file.status.jobId);
      await entry.writes;
      if (existsSync(entry.path)) await unlink(entry.path);
      this.logger.debug({ jobId: entry.file.status.jobId }, 'finished job dropped by retention');
    }
  }
}

function newestFirst(a: Pick<JobStatus, 'createdUnixMs' | 'jobId'>, b: Pick<JobStatus, 'createdUnixMs' | 'jobId'>): number {
  return Number(b.createdUnixMs) - Number(a.createdUnixMs) || (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0);
}
