import { existsSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { retrievalV1 } from '@select/contracts';
import { NpyReader, readParquetPool, type Cursor, type ParquetSample } from '@select/datasets';
import { JobRuntime, type JobKind } from '@select/jobs';
import { ServiceError, type Logger } from '@select/platform';
import type { AddItem, IndexCatalog, PersistentIndex } from '@select/vector-index';
import { toServiceError } from './errors.js';

type BulkLoadRequest = retrievalV1.BulkLoadRequest__Output;

export const BULK_LOAD_JOB = 'bulk-load';

const EMBEDDINGS = { img_emb: 'image', text_emb: 'text' } as const;
type EmbeddingsFolder = keyof typeof EMBEDDINGS;

/** A BulkLoad request as the job keeps it: validated, the folder resolved, the index's incarnation pinned. */
export interface BulkLoadParams {
  index: string;
  /** Identifies this incarnation of the index (its directory's inode and birth time): a dropped and re-created
   *  index of the same name is another job's target. */
  indexInstance: string;
  inputDir: string;
  embeddings: EmbeddingsFolder;
  idColumn: string;
  metadataColumns: string[];
}

/** Where a job has got to: everything before `cursor` is in the index and durable. */
export interface BulkLoadProgress {
  /** Resume point of the reader; null before the first checkpoint. */
  cursor: Cursor | null;
  /** Next row number (the id of a row when the request names no id column). */
  row: number;
  /** Vectors handed to the index (added, replaced or refused by it): JobStatus.done. */
  done: number;
  added: number;
  replaced: number;
  skipped: number;
  firstProblem: string;
}

export interface BulkLoadOptions {
  batchSize: number;
  /** Least time between two checkpoints of a running job (each one fsyncs the index's log). @default 1000 */
  checkpointMs?: number;
}

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

function indexInstance(index: PersistentIndex): string {
  const stat = statSync(index.dir);
  return `${stat.ino}-${Math.round(stat.birthtimeMs || stat.ctimeMs)}`;
}

function inputDir(uri: string): string {
  return uri.startsWith('file:') ? fileURLToPath(uri) : resolve(uri);
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

/**
 * BulkLoad: read a clip-retrieval folder (metadata/metadata_N.parquet with img_emb/img_emb_N.npy or
 * text_emb/text_emb_N.npy, as clip-retrieval and the embedding service's dataset jobs write it) into an
 * index. Checkpoints (at most every `checkpointMs`, after the index's log is synced) record the reader's
 * cursor, so a stopped, cancelled or crashed load resumes there. Rows after the last checkpoint are read
 * again; ids make that an upsert, so they may count as replaced rather than added.
 */
export function bulkLoadJob(catalog: IndexCatalog, options: BulkLoadOptions): JobKind<BulkLoadRequest, BulkLoadProgress, BulkLoadParams> {
  const checkpointMs = options.checkpointMs ?? 1000;
  return {
    kind: BULK_LOAD_JOB,
    unit: 'vectors',
    normalize(request) {
      let index: PersistentIndex;
      try {
        index = catalog.get(request.index);
      } catch (error) {
        throw toServiceError(error);
      }
      if (!request.inputUri) throw ServiceError.invalidArgument('input_uri must name a clip-retrieval folder');
      const dir = inputDir(request.inputUri);
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
      return {
        index: index.name,
        indexInstance: indexInstance(index),
        inputDir: dir,
        embeddings: folder,
        idColumn: request.idColumn,
        metadataColumns: [...request.metadataColumns],
      };
    },
    outputUri: (params) => params.index,
    resumeMessage: (progress) => `resuming after row ${progress.row}`,
    async run(ctx) {
      const request = ctx.request;
      let index: PersistentIndex;
      try {
        index = catalog.get(request.index);
      } catch (error) {
        throw toServiceError(error);
      }
      if (indexInstance(index) !== request.indexInstance) {
        throw new Error(`index "${request.index}" was dropped and created again since this load started; start the load again`);
      }
      const progress: BulkLoadProgress = ctx.resumeState ?? { cursor: null, row: 0, done: 0, added: 0, replaced: 0, skipped: 0, firstProblem: '' };
      const folder = request.embeddings;
      const total = ctx.resumeState ? undefined : await countRows(join(request.inputDir, folder));
      ctx.progress(progress.done, total);
      const extraColumns = [...request.metadataColumns, ...(request.idColumn ? [request.idColumn] : [])];
      let batch: AddItem[] = [];
      let cursor = progress.cursor;
      let checkedDimension = false;
      let lastCheckpoint = Date.now();
      const flush = async (): Promise<void> => {
        if (batch.length > 0) {
          const result = await index.add(batch, { sync: false });
          progress.added += result.added;
          progress.replaced += result.replaced;
          progress.skipped += result.problems.length;
          const problem = result.problems[0];
          progress.firstProblem ||= problem ? `${problem.id}: ${problem.message}` : '';
          progress.done += batch.length;
          ctx.progress(progress.done);
          batch = [];
        }
        progress.cursor = cursor;
      };
      const checkpoint = async (): Promise<void> => {
        await index.sync();
        await ctx.checkpoint({ ...progress });
        lastCheckpoint = Date.now();
      };
      try {
        for await (const record of readParquetPool({
          embeddingsDir: request.inputDir,
          embeddings: EMBEDDINGS[folder],
          // Embeddings of an uncaptioned pool (ImageFolder, a reference set) are loaded all the same.
          captionRequired: false,
          extraColumns,
          signal: ctx.signal,
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
          if (batch.length >= options.batchSize) {
            await flush();
            if (Date.now() - lastCheckpoint >= checkpointMs) await checkpoint();
          }
        }
        await flush();
      } catch (error) {
        if (!ctx.signal.aborted) throw error;
        // Stopped (cancel or shutdown): what was added so far is checkpointed; the rest waits for a resume.
        await flush();
        await checkpoint();
        ctx.logger.info({ done: progress.done }, 'bulk load stopped at a checkpoint');
        throw ctx.signal.reason;
      }
      await checkpoint();
      if (progress.added + progress.replaced === 0 && progress.skipped > 0) {
        // Nothing usable in the whole input is a failure the caller must see, not an empty success.
        throw new Error(`no vector loaded (${progress.skipped} records skipped); first problem: ${progress.firstProblem}`);
      }
      ctx.logger.info({ added: progress.added, replaced: progress.replaced, skipped: progress.skipped }, 'bulk load finished');
      return (
        `loaded ${progress.added} vectors (${progress.replaced} replaced an existing id), skipped ${progress.skipped}` +
        (progress.firstProblem ? `; first problem: ${progress.firstProblem}` : '')
      );
    },
  };
}

/** The retrieval service's job runtime (state in `<dataDir>/.jobs`) with BulkLoad registered, not resumed yet. */
export async function openBulkLoadJobs(
  catalog: IndexCatalog,
  options: BulkLoadOptions & { dataDir: string; concurrency: number; logger: Logger; events: { brokers: string[]; topicPrefix: string } | false },
): Promise<JobRuntime> {
  const jobs = await JobRuntime.open({
    dir: join(options.dataDir, '.jobs'),
    service: 'retrieval-service',
    concurrency: options.concurrency,
    events: options.events,
    logger: options.logger,
  });
  return jobs.register(bulkLoadJob(catalog, options));
}
