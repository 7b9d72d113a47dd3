import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readCaptionedShards, readImageFolder, readOpenClipart, writeNpy, type Cursor, type PoolRecord } from '@select/datasets';
import { QueueFullError } from '@select/inference';
import { PreprocessQueueFullError } from '@select/vision';
import { parquetWriteBuffer } from 'hyparquet-writer';
import type { EmbeddingEngine, TextVector } from './embedding-engine.js';

/** Pool layouts a dataset job reads. */
export const DATASET_FORMATS = ['webdataset', 'imagefolder', 'openclipart'] as const;
export type DatasetFormat = (typeof DATASET_FORMATS)[number];

/** What one job embeds, normalised from the request. */
export interface DatasetJobParams {
  model: string;
  inputUri: string;
  inputFormat: DatasetFormat;
  outputDir: string;
  embedImages: boolean;
  embedTexts: boolean;
  rowsPerFile: number;
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

interface Row {
  key: string;
  caption: string;
  url: string;
  sourceFile: string;
  image: Uint8Array | undefined;
}

function rowFromRecord(format: DatasetFormat, rec: PoolRecord<unknown>): Row | null {
  if (!rec.ok) return null;
  const s = rec.sample as { sourceId: string; file: string; caption?: string; image?: { bytes: Buffer }; metadata?: Record<string, unknown> };
  const url = typeof s.metadata?.['url'] === 'string' ? s.metadata['url'] : '';
  return { key: s.sourceId, caption: format === 'imagefolder' ? '' : (s.caption ?? ''), url, sourceFile: s.file, image: s.image?.bytes };
}

function openReader(params: DatasetJobParams, resumeFrom: Cursor | undefined, signal: AbortSignal): AsyncIterable<PoolRecord<unknown>> {
  const common = { ...(resumeFrom ? { resumeFrom } : {}), signal };
  switch (params.inputFormat) {
    case 'webdataset':
      return readCaptionedShards({ shards: params.inputUri, ...common });
    case 'imagefolder':
      return readImageFolder({ root: params.inputUri, ...common });
    case 'openclipart':
      return readOpenClipart({ ...(params.inputUri ? { root: params.inputUri } : {}), ...common });
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

/** One text, waiting out full queues (embedTexts reports them per slot instead of throwing). */
function embedTextPatiently(engine: EmbeddingEngine, model: string, text: string, signal: AbortSignal): Promise<TextVector | Error> {
  return patiently(async () => {
    const [result] = await engine.embedTexts(model, [text], { signal });
    if (result instanceof QueueFullError) throw result;
    return result!;
  }, signal);
}

async function atomicWrite(path: string, data: Uint8Array | ArrayBuffer): Promise<void> {
  const tmp = `${path}.partial`;
  await writeFile(tmp, data instanceof ArrayBuffer ? new Uint8Array(data) : data);
  await rename(tmp, path);
}

/**
 * Embed one chunk of rows and write its three row-aligned files. Rows whose image or text fails are left out of
 * all three, so row i of img_emb_N.npy, text_emb_N.npy and metadata_N.parquet is always the same sample.
 */
async function writeChunk(engine: EmbeddingEngine, params: DatasetJobParams, rows: Row[], index: number, signal: AbortSignal): Promise<{ written: number; dropped: number }> {
  const window = 64;
  const images: Array<Float32Array | null> = new Array<Float32Array | null>(rows.length).fill(null);
  if (params.embedImages) {
    for (let start = 0; start < rows.length; start += window) {
      signal.throwIfAborted();
      const slice = rows.slice(start, start + window);
      const out = await Promise.all(
        slice.map((r) => (r.image ? patiently(() => engine.embedImage(params.model, r.image!, { signal }), signal).catch(() => null) : Promise.resolve(null))),
      );
      out.forEach((v, i) => (images[start + i] = v));
    }
  }
  const texts: Array<TextVector | null> = new Array<TextVector | null>(rows.length).fill(null);
  if (params.embedTexts) {
    for (let start = 0; start < rows.length; start += 256) {
      signal.throwIfAborted();
      const slice = rows.slice(start, start + 256);
      const out = await engine.embedTexts(params.model, slice.map((r) => r.caption), { signal });
      for (const [i, v] of out.entries()) {
        // a text refused by a full queue is retried, not dropped; other failures drop the row
        const result = v instanceof QueueFullError ? await embedTextPatiently(engine, params.model, slice[i]!.caption, signal) : v;
        texts[start + i] = result instanceof Error ? null : result;
      }
    }
  }
  const keep = rows.map((_, i) => (!params.embedImages || images[i] !== null) && (!params.embedTexts || texts[i] !== null));
  const kept = rows.filter((_, i) => keep[i]);
  const dim = engine.spec(params.model).dimension;
  const pack = (vectors: Array<Float32Array | null>) => {
    const out = new Float32Array(kept.length * dim);
    let row = 0;
    vectors.forEach((v, i) => {
      if (keep[i]) out.set(v!, row++ * dim);
    });
    return out;
  };
  const dir = params.outputDir;
  if (params.embedImages) {
    await writeNpy(join(dir, 'img_emb', `img_emb_${index}.npy.partial`), pack(images), { dim });
    await rename(join(dir, 'img_emb', `img_emb_${index}.npy.partial`), join(dir, 'img_emb', `img_emb_${index}.npy`));
  }
  if (params.embedTexts) {
    await writeNpy(join(dir, 'text_emb', `text_emb_${index}.npy.partial`), pack(texts.map((t) => t?.vector ?? null)), { dim });
    await rename(join(dir, 'text_emb', `text_emb_${index}.npy.partial`), join(dir, 'text_emb', `text_emb_${index}.npy`));
  }
  const parquet = parquetWriteBuffer({
    columnData: [
      { name: 'image_path', data: kept.map((r) => r.key), type: 'STRING' },
      { name: 'caption', data: kept.map((r) => r.caption), type: 'STRING' },
      { name: 'url', data: kept.map((r) => r.url), type: 'STRING' },
      { name: 'source_file', data: kept.map((r) => r.sourceFile), type: 'STRING' },
    ],
  });
  await atomicWrite(join(dir, 'metadata', `metadata_${index}.parquet`), parquet);
  return { written: kept.length, dropped: rows.length - kept.length };
}

/**
 * Embed a pool into clip-retrieval's layout under `params.outputDir`: img_emb/img_emb_N.npy,
 * text_emb/text_emb_N.npy (float32, L2-normalised, rows x dim) and metadata/metadata_N.parquet, row-aligned.
 * Starts from `progress` (a fresh job: file 0, no cursor) and calls `checkpoint` after every file set, which is
 * what makes the job resumable: files are renamed into place before the checkpoint that covers them.
 */
export async function embedDataset(
  engine: EmbeddingEngine,
  params: DatasetJobParams,
  progress: DatasetJobProgress,
  checkpoint: (p: DatasetJobProgress) => Promise<void>,
  signal: AbortSignal,
): Promise<DatasetJobProgress> {
  for (const sub of ['img_emb', 'text_emb', 'metadata']) {
    if (sub === 'img_emb' && !params.embedImages) continue;
    if (sub === 'text_emb' && !params.embedTexts) continue;
    await mkdir(join(params.outputDir, sub), { recursive: true });
  }
  let state = { ...progress };
  let rows: Row[] = [];
  let unreadable = 0;
  let cursor = state.cursor;
  const flush = async () => {
    if (rows.length === 0 && unreadable === 0) return;
    let written = 0;
    let dropped = 0;
    if (rows.length > 0) ({ written, dropped } = await writeChunk(engine, params, rows, state.fileIndex, signal));
    state = {
      fileIndex: rows.length > 0 ? state.fileIndex + 1 : state.fileIndex,
      cursor,
      done: state.done + written,
      failed: state.failed + dropped + unreadable,
    };
    rows = [];
    unreadable = 0;
    await checkpoint(state);
  };
  for await (const rec of openReader(params, state.cursor, signal)) {
    signal.throwIfAborted();
    const row = rowFromRecord(params.inputFormat, rec);
    if (row) rows.push(row);
    else unreadable++;
    cursor = rec.cursor;
    if (rows.length >= params.rowsPerFile) await flush();
  }
  await flush();
  return state;
}
