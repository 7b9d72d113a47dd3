import { setMaxListeners } from 'node:events';
import { lstat, mkdir, readdir, readFile, rename } from 'node:fs/promises';
import { dirname, extname, isAbsolute, join, resolve } from 'node:path';
import {
  readCaptionedShards,
  readClassShards,
  readImageFolder,
  readOpenClipart,
  readParquetPool,
  resolveShards,
  SHIFT_FILES,
  writeNpy,
  type Cursor,
  type PoolRecord,
  type ShiftSummary,
} from '@select/datasets';
import { QueueFullError } from '@select/inference';
import { writeFileAtomic } from '@select/platform';
import { PreprocessQueueFullError } from '@select/vision';
import { parquetWriteBuffer } from 'hyparquet-writer';
import type { EmbeddingEngine, TextVector } from './embedding-engine.js';

/**
 * Pool layouts a dataset job reads, all through @select/datasets' readers:
 * - `webdataset`: img2dataset-style shards (`key.jpg|png|webp` + `key.txt`), a path or brace pattern;
 * - `parquet`: metadata parquet files (a path or brace pattern) whose rows name image files
 *   (`image_path|path|filepath`, relative to the parquet file's folder) and captions;
 * - `imagefolder`: `<root>/<wnid>/<file>`, no captions;
 * - `shift`: a shift directory a ShiftWriter wrote (shards listed in shift.json), no captions;
 * - `openclipart`: Debian's openclipart-svg, rendered.
 */
export const DATASET_FORMATS = ['webdataset', 'parquet', 'imagefolder', 'shift', 'openclipart'] as const;
export type DatasetFormat = (typeof DATASET_FORMATS)[number];

/** Formats whose samples carry a caption (embed_texts needs one). */
export const CAPTIONED_FORMATS: readonly DatasetFormat[] = ['webdataset', 'parquet', 'openclipart'];

/** What one job embeds, normalised from the request. */
export interface DatasetJobParams {
  model: string;
  inputUri: string;
  inputFormat: DatasetFormat;
  outputDir: string;
  embedImages: boolean;
  embedTexts: boolean;
  rowsPerFile: number;
  /** Records of the input read at most, in its order; absent: all (kept out of the params, and so of the job id, when 0). */
  limit?: number;
}

/** Where a job stands; saved after every output file so a restarted job continues after the last one. */
export interface DatasetJobProgress {
  /** Index N of the next img_emb_N.npy / text_emb_N.npy / metadata_N.parquet. */
  fileIndex: number;
  /** Reader position just past the last record covered by written files; undefined before the first. */
  cursor: Cursor | undefined;
  /** Rows written. */
  done: number;
  /** Samples dropped: unreadable records, or images/texts that failed to embed. */
  failed: number;
}

/** Images and texts of one job being embedded at once: bounds the memory a job holds (their bytes). */
const WINDOW = 64;

interface Row {
  key: string;
  caption: string;
  label: string;
  url: string;
  sourceFile: string;
  /** Encoded image bytes, or a file to read them from when the row is embedded. */
  image: Uint8Array | string | undefined;
}

/** A row after embedding: the vectors kept, the bytes gone. */
interface EmbeddedRow {
  row: Row;
  image: Float32Array | null;
  text: TextVector | null;
}

function rowFromRecord(rec: PoolRecord<unknown>): Row | null {
  if (!rec.ok) return null;
  const s = rec.sample as {
    sourceId: string;
    file: string;
    caption?: string;
    wnid?: string;
    url?: string;
    path?: string;
    image?: { bytes: Buffer };
    metadata?: Record<string, unknown>;
  };
  const url = s.url ?? (typeof s.metadata?.['url'] === 'string' ? s.metadata['url'] : '');
  // parquet rows name their image: a relative path is relative to the parquet file's folder
  const image = s.image?.bytes ?? (s.path ? (isAbsolute(s.path) ? s.path : resolve(dirname(s.file), s.path)) : undefined);
  return { key: s.sourceId, caption: s.caption ?? '', label: s.wnid ?? '', url, sourceFile: s.file, image };
}

async function readShiftSummary(dir: string): Promise<ShiftSummary> {
  return JSON.parse(await readFile(join(dir, SHIFT_FILES.summary), 'utf8')) as ShiftSummary;
}

async function openReader(params: DatasetJobParams, resumeFrom: Cursor | undefined, signal: AbortSignal): Promise<AsyncIterable<PoolRecord<unknown>>> {
  const common = { ...(resumeFrom ? { resumeFrom } : {}), signal };
  switch (params.inputFormat) {
    case 'webdataset':
      return readCaptionedShards({ shards: params.inputUri, ...common });
    case 'parquet':
      return readParquetPool({ metadata: params.inputUri, embeddings: 'none', ...common });
    case 'imagefolder':
      return readImageFolder({ root: params.inputUri, ...common });
    case 'shift': {
      const summary = await readShiftSummary(params.inputUri);
      return readClassShards({ shards: summary.shards.map((s) => join(params.inputUri, s.name)), ...common });
    }
    case 'openclipart':
      return readOpenClipart({ ...(params.inputUri ? { root: params.inputUri } : {}), ...common });
  }
}

async function countFiles(dir: string, accept: (name: string) => boolean, depth: number): Promise<number> {
  let n = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory() && depth > 0) n += await countFiles(join(dir, entry.name), accept, depth - 1);
    else if (entry.isFile() && accept(entry.name)) n += 1;
  }
  return n;
}

/**
 * How many samples the pool holds, for progress reporting; undefined when that is not known without reading
 * the whole pool: WebDataset shards count only when img2dataset's `NNNNN_stats.json` (`successes`) sits beside
 * every shard. A shift says in shift.json, parquet metadata is read once without images, folders are listed.
 */
export async function countSamples(params: DatasetJobParams, signal: AbortSignal): Promise<number | undefined> {
  const all = await countAll(params, signal);
  if (params.limit === undefined) return all;
  return all === undefined ? params.limit : Math.min(all, params.limit);
}

async function countAll(params: DatasetJobParams, signal: AbortSignal): Promise<number | undefined> {
  switch (params.inputFormat) {
    case 'webdataset': {
      let total = 0;
      for (const shard of resolveShards(params.inputUri)) {
        const stats = shard.replace(/\.tar$/, '_stats.json');
        try {
          const successes = (JSON.parse(await readFile(stats, 'utf8')) as { successes?: unknown }).successes;
          if (typeof successes !== 'number') return undefined;
          total += successes;
        } catch {
          return undefined;
        }
      }
      return total;
    }
    case 'parquet': {
      // one pass over the metadata, which a limit ends early: the total is min(rows, limit) either way
      let total = 0;
      for await (const _ of readParquetPool({ metadata: params.inputUri, embeddings: 'none', signal })) {
        if (params.limit !== undefined && total >= params.limit) break;
        total++;
      }
      return total;
    }
    case 'imagefolder': {
      // readImageFolder's default extensions, one class folder deep
      const images = new Set(['.jpg', '.jpeg', '.png', '.webp']);
      return countFiles(params.inputUri, (name) => images.has(extname(name).toLowerCase()), 1);
    }
    case 'shift':
      return (await readShiftSummary(params.inputUri)).counts.samples;
    case 'openclipart': {
      const root = params.inputUri || '/usr/share/openclipart/svg';
      return (await lstat(root).catch(() => null)) ? countFiles(root, (name) => name.endsWith('.svg'), 8) : undefined;
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Online traffic shares the queues: a full queue makes the job wait, it never drops the row. */
async function patiently<T>(work: () => Promise<T>, signal: AbortSignal): Promise<T> {
  for (let delay = 10; ; delay = Math.min(delay * 2, 500)) {
    try {
      return await work();
    } catch (err) {
      if (!(err instanceof QueueFullError || err instanceof PreprocessQueueFullError)) throw err;
      signal.throwIfAborted();
      await sleep(delay);
    }
  }
}

/** One row's vectors; a part that fails (unreadable file, undecodable image, bad text) leaves its slot null. */
async function embedRow(engine: EmbeddingEngine, params: DatasetJobParams, row: Row, signal: AbortSignal): Promise<EmbeddedRow> {
  const image = async () => {
    if (!params.embedImages || row.image === undefined) return null;
    const bytes = typeof row.image === 'string' ? await readFile(row.image) : row.image;
    return patiently(() => engine.embedImage(params.model, bytes, { signal }), signal);
  };
  const text = async () => {
    if (!params.embedTexts) return null;
    const result = await patiently(async () => {
      const [r] = await engine.embedTexts(params.model, [row.caption], { signal });
      // embedTexts reports a full queue in the slot; throw it so that it is waited out like an image's
      if (r instanceof QueueFullError) throw r;
      return r!;
    }, signal);
    return result instanceof Error ? null : result;
  };
  const [i, t] = await Promise.all([image().catch(() => null), text()]);
  signal.throwIfAborted();
  return { row: { ...row, image: undefined }, image: i, text: t };
}

/**
 * Write one chunk's three row-aligned files. Rows whose image or text failed are left out of all three, so row i
 * of img_emb_N.npy, text_emb_N.npy and metadata_N.parquet is always the same sample.
 */
async function writeChunk(engine: EmbeddingEngine, params: DatasetJobParams, rows: EmbeddedRow[], index: number): Promise<{ written: number; dropped: number }> {
  const kept = rows.filter((r) => (!params.embedImages || r.image) && (!params.embedTexts || r.text));
  const dim = engine.spec(params.model).dimension;
  const pack = (vectors: Float32Array[]) => {
    const out = new Float32Array(kept.length * dim);
    vectors.forEach((v, i) => out.set(v, i * dim));
    return out;
  };
  const npy = async (sub: string, vectors: Float32Array[]) => {
    const path = join(params.outputDir, sub, `${sub}_${index}.npy`);
    await writeNpy(`${path}.partial`, pack(vectors), { dim });
    await rename(`${path}.partial`, path);
  };
  if (params.embedImages) await npy('img_emb', kept.map((r) => r.image!));
  if (params.embedTexts) await npy('text_emb', kept.map((r) => r.text!.vector));
  const column = (name: string, data: string[]) => ({ name, data, type: 'STRING' as const });
  const parquet = parquetWriteBuffer({
    columnData: [
      column('image_path', kept.map((r) => r.row.key)),
      column('caption', kept.map((r) => r.row.caption)),
      column('url', kept.map((r) => r.row.url)),
      column('label', kept.map((r) => r.row.label)),
      column('source_file', kept.map((r) => r.row.sourceFile)),
    ],
  });
  await writeFileAtomic(join(params.outputDir, 'metadata', `metadata_${index}.parquet`), new Uint8Array(parquet));
  return { written: kept.length, dropped: rows.length - kept.length };
}

/**
 * Embed a pool into clip-retrieval's layout under `params.outputDir`: img_emb/img_emb_N.npy,
 * text_emb/text_emb_N.npy (float32, L2-normalised, rows x dim) and metadata/metadata_N.parquet, row-aligned.
 * Up to WINDOW rows are embedded at once, in read order; only their vectors stay until a file is written.
 * Starts from `progress` (a fresh job: file 0, no cursor) and calls `checkpoint` after every file set, which is
 * what makes the job resumable: files are renamed into place before the checkpoint that covers them, and a
 * restart rewrites any file past the checkpoint with the same rows.
 */
export async function embedDataset(
  engine: EmbeddingEngine,
  params: DatasetJobParams,
  progress: DatasetJobProgress,
  checkpoint: (p: DatasetJobProgress) => Promise<void>,
  signal: AbortSignal,
  /**
   * Rows processed so far (written, dropped or unreadable, those of the file being filled included), at most
   * every `rowsEveryMs`: a file of 10,000 rows takes minutes, and the checkpoints come only per file.
   */
  rows?: { report: (processed: number, filesWritten: number) => void; everyMs?: number },
): Promise<DatasetJobProgress> {
  for (const sub of ['img_emb', 'text_emb', 'metadata']) {
    if (sub === 'img_emb' && !params.embedImages) continue;
    if (sub === 'text_emb' && !params.embedTexts) continue;
    await mkdir(join(params.outputDir, sub), { recursive: true });
  }
  // every row in flight listens for the job's abort
  setMaxListeners(WINDOW * 4, signal);
  let state = { ...progress };
  let chunk: EmbeddedRow[] = [];
  let unreadable = 0;
  let cursor = state.cursor;
  const flush = async () => {
    if (chunk.length === 0 && unreadable === 0) return;
    let written = 0;
    let dropped = 0;
    if (chunk.length > 0) ({ written, dropped } = await writeChunk(engine, params, chunk, state.fileIndex));
    state = {
      fileIndex: chunk.length > 0 ? state.fileIndex + 1 : state.fileIndex,
      cursor,
      done: state.done + written,
      failed: state.failed + dropped + unreadable,
    };
    chunk = [];
    unreadable = 0;
    await checkpoint(state);
  };
  // rows in flight, oldest first; each settles to its embedded row (or null for an unreadable record)
  const inFlight: Array<{ cursor: Cursor; result: Promise<EmbeddedRow | null> }> = [];
  let rowsReportedAt = performance.now();
  const takeOldest = async () => {
    const { cursor: at, result } = inFlight.shift()!;
    const embedded = await result;
    if (embedded) chunk.push(embedded);
    else unreadable++;
    cursor = at;
    if (chunk.length >= params.rowsPerFile) await flush();
    if (rows !== undefined && performance.now() - rowsReportedAt >= (rows.everyMs ?? 2000)) {
      rowsReportedAt = performance.now();
      rows.report(state.done + state.failed + chunk.length + unreadable, state.fileIndex);
    }
  };
  // records read: each one up to the checkpoint's cursor was written, dropped or unreadable, so a resumed job
  // counts on from done + failed
  let read = state.done + state.failed;
  try {
    for await (const rec of await openReader(params, state.cursor, signal)) {
      signal.throwIfAborted();
      if (params.limit !== undefined && read >= params.limit) break;
      read++;
      const row = rowFromRecord(rec);
      const result = row ? embedRow(engine, params, row, signal) : Promise.resolve(null);
      // an abort rejects every row in flight at once, while only the oldest is awaited: none may go unobserved
      result.catch(() => undefined);
      inFlight.push({ cursor: rec.cursor, result });
      if (inFlight.length >= WINDOW) await takeOldest();
    }
    while (inFlight.length > 0) await takeOldest();
  } finally {
    // rows still in flight after a failure or abort settle on their own; nothing may reject unobserved
    for (const r of inFlight) r.result.catch(() => undefined);
  }
  await flush();
  return state;
}
