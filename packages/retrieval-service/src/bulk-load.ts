import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NpyReader, readParquetPool, type ParquetSample } from '@select/datasets';
import { ServiceError, type Logger } from '@select/platform';
import type { AddItem, IndexCatalog, PersistentIndex } from '@select/vector-index';
import { mapErrors } from './errors.js';
import type { BulkLoadRequest, JobStateName, JobStatusMsg } from './rpc-types.js';

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

interface Job {
  status: JobStatusMsg;
  abort: AbortController;
  done: Promise<void>;
}

export interface BulkLoadOptions {
  batchSize: number;
  logger: Logger;
}

/**
 * BulkLoad jobs: read a clip-retrieval folder (metadata/metadata_N.parquet with img_emb/img_emb_N.npy or
 * text_emb/text_emb_N.npy, as clip-retrieval and the embedding service's dataset jobs write it) into an
 * index. Jobs run in the background and are polled with GetJob; they are kept in memory only, so a
 * restart forgets them (the vectors they added stay, being logged like any add).
 */
export class BulkLoadJobs {
  private readonly jobs = new Map<string, Job>();

  constructor(
    private readonly catalog: IndexCatalog,
    private readonly options: BulkLoadOptions,
  ) {}

  startHandler() {
    return (request: BulkLoadRequest): Promise<JobStatusMsg> => mapErrors(async () => this.start(request));
  }

  getHandler() {
    return (request: { jobId: string }): JobStatusMsg => {
      const job = this.jobs.get(request.jobId);
      if (!job) throw ServiceError.notFound(`no bulk-load job ${request.jobId}`, { details: { jobId: request.jobId } });
      return { ...job.status };
    };
  }

  /** Stops running jobs (between batches) and waits for them. */
  async close(): Promise<void> {
    for (const job of this.jobs.values()) job.abort.abort(new Error('the service is shutting down'));
    await Promise.all([...this.jobs.values()].map((job) => job.done));
  }

  private async start(request: BulkLoadRequest): Promise<JobStatusMsg> {
    const index = this.catalog.get(request.index);
    const dir = request.inputUri.startsWith('file:') ? fileURLToPath(request.inputUri) : request.inputUri;
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
    const status: JobStatusMsg = {
      jobId: randomUUID(),
      kind: 'bulk-load',
      state: 'JOB_STATE_QUEUED',
      done: '0',
      total: '0',
      unit: 'vectors',
      message: '',
      createdUnixMs: now,
      updatedUnixMs: now,
      outputUri: index.name,
    };
    const abort = new AbortController();
    const job: Job = { status, abort, done: Promise.resolve() };
    job.done = this.run(job, index, dir, folder, request);
    this.jobs.set(status.jobId, job);
    return { ...status };
  }

  private async run(job: Job, index: PersistentIndex, dir: string, folder: EmbeddingsFolder, request: BulkLoadRequest) {
    const update = (state: JobStateName, fields: Partial<JobStatusMsg> = {}) => {
      Object.assign(job.status, { state, updatedUnixMs: String(Date.now()) }, fields);
    };
    const log = this.options.logger.child({ jobId: job.status.jobId, index: index.name });
    // Let start() return before any work begins.
    await Promise.resolve();
    try {
      update('JOB_STATE_RUNNING', { total: String(await countRows(join(dir, folder))) });
      const extraColumns = [...request.metadataColumns, ...(request.idColumn ? [request.idColumn] : [])];
      let row = 0;
      let done = 0;
      let added = 0;
      let replaced = 0;
      let skipped = 0;
      let firstProblem = '';
      let batch: AddItem[] = [];
      const flush = async () => {
        if (batch.length === 0) return;
        const result = await index.add(batch, { sync: false });
        added += result.added;
        replaced += result.replaced;
        skipped += result.problems.length;
        firstProblem ||= result.problems[0] ? `${result.problems[0].id}: ${result.problems[0].message}` : '';
        done += batch.length;
        batch = [];
        update('JOB_STATE_RUNNING', { done: String(done) });
      };
      for await (const record of readParquetPool({
        embeddingsDir: dir,
        embeddings: EMBEDDINGS[folder],
        extraColumns,
        signal: job.abort.signal,
      })) {
        if (!record.ok) {
          skipped++;
          firstProblem ||= record.error.message;
          continue;
        }
        const sample = record.sample;
        const vector = folder === 'img_emb' ? sample.imageEmbedding : sample.textEmbedding;
        const rowId = row++;
        if (!vector) {
          skipped++;
          continue;
        }
        if (rowId === 0 && vector.length !== index.spec.dimension) {
          throw new Error(`the embeddings have dimension ${vector.length}; index "${index.name}" has ${index.spec.dimension}`);
        }
        const id = request.idColumn ? sampleField(sample, request.idColumn) : rowId;
        const metadata: Record<string, string> = {};
        for (const column of request.metadataColumns) {
          const value = sampleField(sample, column);
          if (value !== undefined && value !== null) metadata[column] = String(value);
        }
        batch.push({ id: id === undefined || id === null ? '' : String(id), vector, metadata });
        if (batch.length >= this.options.batchSize) await flush();
      }
      await flush();
      await index.sync();
      const message =
        `loaded ${added} vectors (${replaced} replaced an existing id), skipped ${skipped}` +
        (firstProblem ? `; first problem: ${firstProblem}` : '');
      update('JOB_STATE_SUCCEEDED', { message });
      log.info({ added, replaced, skipped }, 'bulk load finished');
    } catch (error) {
      const cancelled = job.abort.signal.aborted;
      update(cancelled ? 'JOB_STATE_CANCELLED' : 'JOB_STATE_FAILED', { message: (error as Error).message });
      log.warn({ err: error }, cancelled ? 'bulk load cancelled' : 'bulk load failed');
    }
  }
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
