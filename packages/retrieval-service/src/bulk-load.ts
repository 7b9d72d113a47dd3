import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NpyReader, readParquetPool, type Cursor, type ParquetSample } from '@select/datasets';
import { ServiceError, writeFileAtomic, type Logger } from '@select/platform';
import type { AddItem, IndexCatalog, PersistentIndex } from '@select/vector-index';
import { mapErrors } from './errors.js';
import type { commonV1, retrievalV1 } from '@select/contracts';

type JobStatusMsg = commonV1.JobStatus__Output;
type BulkLoadRequest = retrievalV1.BulkLoadRequest__Output;

const EMBEDDINGS = { img_emb: 'image', text_emb: 'text' } as const;
type EmbeddingsFolder = keyof typeof EMBEDDINGS;

/** Columns that the parquet reader maps onto sample fields rather than `metadata`. */
function sampleField(sample: ParquetSample, column: string): unknown {
  if (column in sample.metadata) return sample.metadata[column];
  switch (column) {
    case 'caption':
    case 'TEXT':
    case 'text':
      return sample.caption;
    case 'url':
    case 'URL':
      return sample.url;
    case 'image_path':
    case 'path':
    case 'filepath':
      return sample.path;
    default:
      return undefined;
  }
}

/** Where a job has got to: everything before `cursor` is in the index and durable. */
interface Progress {
  /** Resume point of the reader; null before the first checkpoint. */
  cursor: Cursor | null;
  /** Next row number (the id of a row when the request names no id column). */
  row: number;
  added: number;
  replaced: number;
  skipped: number;
  firstProblem: string;
}

/** The state file of one job, beside its index: enough to report the job and to resume it after a restart. */
interface JobFile {
  version: 1;
  request: BulkLoadRequest;
  status: JobStatusMsg;
  progress: Progress;
}

interface Job {
  file: JobFile;
  path: string;
  abort: AbortController;
  done: Promise<void>;
}

export interface BulkLoadOptions {
  batchSize: number;
  logger: Logger;
  /** Least time between two checkpoints of a running job (each one fsyncs the index's log). @default 1000 */
  checkpointMs?: number;
}

const JOB_FILE = /^bulk-load-([0-9a-f-]{36})\.json$/;
/** Aborts a job for a shutdown: it stays resumable rather than ending as cancelled. */
const SHUTDOWN = new Error('the service is shutting down');

function unfinished(state: commonV1.JobState__Output): boolean {
  return state === 'JOB_STATE_QUEUED' || state === 'JOB_STATE_RUNNING';
}

/**
 * BulkLoad jobs: read a clip-retrieval folder (metadata/metadata_N.parquet with img_emb/img_emb_N.npy or
 * text_emb/text_emb_N.npy, as clip-retrieval and the embedding service's dataset jobs write it) into an
 * index. Jobs run in the background and are polled with GetJob. Each job keeps a small state file in its
 * index's directory, written at the start, at checkpoints (at most every `checkpointMs`, after the index's
 * log is synced) and at the end, so a restarted service still reports every job and resumes unfinished
 * ones from their last checkpoint. Rows after that checkpoint are read again; ids make that an upsert,
 * so they may count as replaced rather than added. Dropping the index deletes its jobs' files.
 */
export class BulkLoadJobs {
  private readonly jobs = new Map<string, Job>();
  private readonly checkpointMs: number;

  private constructor(
    private readonly catalog: IndexCatalog,
    private readonly options: BulkLoadOptions,
  ) {
    this.checkpointMs = options.checkpointMs ?? 1000;
  }

  /** Reads the job files of every index and resumes the jobs a stop interrupted. */
  static async open(catalog: IndexCatalog, options: BulkLoadOptions): Promise<BulkLoadJobs> {
    const jobs = new BulkLoadJobs(catalog, options);
    for (const index of catalog.list()) {
      for (const name of await readdir(index.dir)) {
        if (!JOB_FILE.test(name)) continue;
        const path = join(index.dir, name);
        let file: JobFile;
        try {
          file = JSON.parse(await readFile(path, 'utf8')) as JobFile;
          if (file.version !== 1) throw new Error(`unknown version ${String(file.version)}`);
        } catch (error) {
          options.logger.warn({ err: error, path }, 'bulk-load job file unreadable; the job is not listed');
          continue;
        }
        const job: Job = { file, path, abort: new AbortController(), done: Promise.resolve() };
        jobs.jobs.set(file.status.jobId, job);
        if (unfinished(file.status.state)) {
          options.logger.info({ jobId: file.status.jobId, index: index.name, done: file.status.done }, 'resuming bulk load');
          job.done = jobs.run(job, index);
        }
      }
    }
    return jobs;
  }

  startHandler() {
    return (request: BulkLoadRequest): Promise<JobStatusMsg> => mapErrors(async () => this.start(request));
  }

  getHandler() {
    return (request: { jobId: string }): JobStatusMsg => {
      const job = this.jobs.get(request.jobId);
      if (!job) throw ServiceError.notFound(`no bulk-load job ${request.jobId}`, { details: { jobId: request.jobId } });
      return { ...job.file.status };
    };
  }

  /** Stops running jobs at their next row, checkpoints them, and waits; the next start resumes them. */
  async close(): Promise<void> {
    for (const job of this.jobs.values()) job.abort.abort(SHUTDOWN);
    await Promise.all([...this.jobs.values()].map((job) => job.done));
  }

  private async start(request: BulkLoadRequest): Promise<JobStatusMsg> {
    const index = this.catalog.get(request.index);
    const dir = inputDir(request);
    if (!dir) throw ServiceError.invalidArgument('input_uri must name a clip-retrieval folder');
    const folder = (request.embeddings || 'img_emb') as EmbeddingsFolder;
    if (!(folder in EMBEDDINGS)) {
      throw ServiceError.invalidArgument(`embeddings must be "img_emb" or "text_emb", got "${request.embeddings}"`);
    }
    for (const sub of ['metadata', folder]) {
      if (!existsSync(join(dir, sub))) {
        throw ServiceError.invalidArgument(`${dir} has no ${sub}/ folder; expected clip-retrieval's layout`, {
          details: { inputUri: request.inputUri },
        });
      }
    }
    const now = String(Date.now());
    const jobId = randomUUID();
    const file: JobFile = {
      version: 1,
      request: { ...request, embeddings: folder, metadataColumns: [...request.metadataColumns] },
      status: {
        jobId,
        kind: 'bulk-load',
        state: 'JOB_STATE_QUEUED',
        done: '0',
        total: '0',
        unit: 'vectors',
        message: '',
        createdUnixMs: now,
        updatedUnixMs: now,
        outputUri: index.name,
      },
      progress: { cursor: null, row: 0, added: 0, replaced: 0, skipped: 0, firstProblem: '' },
    };
    const job: Job = { file, path: join(index.dir, `bulk-load-${jobId}.json`), abort: new AbortController(), done: Promise.resolve() };
    // On disk before it is acknowledged: a job the caller was told about survives a restart.
    await writeFileAtomic(job.path, JSON.stringify(file));
    this.jobs.set(jobId, job);
    job.done = this.run(job, index);
    return { ...file.status };
  }

  private async run(job: Job, index: PersistentIndex): Promise<void> {
    const { request, status, progress } = job.file;
    const log = this.options.logger.child({ jobId: status.jobId, index: index.name });
    const folder = request.embeddings as EmbeddingsFolder;
    const save = async (state: commonV1.JobState__Output, message = status.message) => {
      Object.assign(status, { state, message, updatedUnixMs: String(Date.now()) });
      await writeFileAtomic(job.path, JSON.stringify(job.file));
    };
    // Let start() return before any work begins.
    await Promise.resolve();
    try {
      if (status.state === 'JOB_STATE_QUEUED') status.total = String(await countRows(join(inputDir(request), folder)));
      await save('JOB_STATE_RUNNING');
      const extraColumns = [...request.metadataColumns, ...(request.idColumn ? [request.idColumn] : [])];
      let batch: AddItem[] = [];
      let cursor = progress.cursor;
      let checkedDimension = false;
      let lastCheckpoint = Date.now();
      const flush = async () => {
        if (batch.length > 0) {
          const result = await index.add(batch, { sync: false });
          progress.added += result.added;
          progress.replaced += result.replaced;
          progress.skipped += result.problems.length;
          const problem = result.problems[0];
          progress.firstProblem ||= problem ? `${problem.id}: ${problem.message}` : '';
          Object.assign(status, { done: String(Number(status.done) + batch.length), updatedUnixMs: String(Date.now()) });
          batch = [];
        }
        progress.cursor = cursor;
      };
      const checkpoint = async () => {
        await index.sync();
        await save('JOB_STATE_RUNNING');
        lastCheckpoint = Date.now();
      };
      try {
        for await (const record of readParquetPool({
          embeddingsDir: inputDir(request),
          embeddings: EMBEDDINGS[folder],
          extraColumns,
          signal: job.abort.signal,
          ...(progress.cursor ? { resumeFrom: progress.cursor } : {}),
        })) {
          cursor = record.cursor;
          if (!record.ok) {
            progress.skipped++;
            progress.firstProblem ||= record.error.message;
            continue;
          }
          const sample = record.sample;
          const vector = folder === 'img_emb' ? sample.imageEmbedding : sample.textEmbedding;
          const rowId = progress.row++;
          if (!vector) {
            progress.skipped++;
            continue;
          }
          if (!checkedDimension && vector.length !== index.spec.dimension) {
            throw new Error(`the embeddings have dimension ${vector.length}; index "${index.name}" has ${index.spec.dimension}`);
          }
          checkedDimension = true;
          const id = request.idColumn ? sampleField(sample, request.idColumn) : rowId;
          const metadata: Record<string, string> = {};
          for (const column of request.metadataColumns) {
            const value = sampleField(sample, column);
            if (value !== undefined && value !== null) metadata[column] = String(value);
          }
          batch.push({ id: id === undefined || id === null ? '' : String(id), vector, metadata });
          if (batch.length >= this.options.batchSize) {
            await flush();
            if (Date.now() - lastCheckpoint >= this.checkpointMs) await checkpoint();
          }
        }
        await flush();
      } catch (error) {
        if (job.abort.signal.reason !== SHUTDOWN) throw error;
        // Stopped for a shutdown: what was added so far is checkpointed, the rest waits for the next start.
        await flush();
        await checkpoint();
        log.info({ done: status.done }, 'bulk load interrupted by shutdown; it resumes at the next start');
        return;
      }
      await index.sync();
      const message =
        `loaded ${progress.added} vectors (${progress.replaced} replaced an existing id), skipped ${progress.skipped}` +
        (progress.firstProblem ? `; first problem: ${progress.firstProblem}` : '');
      await save('JOB_STATE_SUCCEEDED', message);
      log.info({ added: progress.added, replaced: progress.replaced, skipped: progress.skipped }, 'bulk load finished');
    } catch (error) {
      log.warn({ err: error }, 'bulk load failed');
      await save('JOB_STATE_FAILED', (error as Error).message).catch((cause: unknown) =>
        log.error({ err: cause }, 'bulk-load job state could not be written'),
      );
    }
  }
}

function inputDir(request: BulkLoadRequest): string {
  return request.inputUri.startsWith('file:') ? fileURLToPath(request.inputUri) : request.inputUri;
}

async function countRows(folder: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(folder)) {
    if (!name.endsWith('.npy')) continue;
    const reader = await NpyReader.open(join(folder, name));
    total += reader.rows;
    await reader.close();
  }
  return total;
}
