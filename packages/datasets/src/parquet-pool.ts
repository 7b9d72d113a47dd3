import { existsSync } from 'node:fs';
import { open, readdir, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parquetMetadataAsync, parquetReadObjects, parquetSchema, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import { DatasetError, describeCause } from './errors.js';
import type { PoolSampleBase } from './image-decode.js';
import { NpyReader } from './npy.js';
import { errorRecord, sampleRecord, validateCursor, type PoolRecord, type ReadOptions } from './pool-record.js';
import { resolveShards } from './webdataset-reader.js';

/** Column names tried, in order, for each field of a LAION-style metadata row. */
export interface ParquetColumns {
  readonly key: readonly string[];
  readonly url: readonly string[];
  readonly path: readonly string[];
  readonly caption: readonly string[];
  readonly width: readonly string[];
  readonly height: readonly string[];
  readonly similarity: readonly string[];
}

export const DEFAULT_PARQUET_COLUMNS: ParquetColumns = {
  key: ['key'],
  url: ['url', 'URL'],
  path: ['image_path', 'path', 'filepath'],
  caption: ['caption', 'TEXT', 'text'],
  width: ['width', 'WIDTH', 'original_width'],
  height: ['height', 'HEIGHT', 'original_height'],
  similarity: ['similarity', 'clip_similarity'],
};

export interface ParquetPoolOptions extends ReadOptions {
  /**
   * Plain metadata parquet files (LAION parts), as paths or brace patterns. Give this or
   * `embeddingsDir`.
   */
  readonly metadata?: string | readonly string[];
  /**
   * A clip-retrieval output folder: `metadata/metadata_N.parquet` with row-aligned
   * `img_emb/img_emb_N.npy` and `text_emb/text_emb_N.npy` (either may be absent).
   */
  readonly embeddingsDir?: string;
  /** Directory relative `metadata` paths resolve against. @default process.cwd() */
  readonly root?: string;
  /** Column names per field, merged over DEFAULT_PARQUET_COLUMNS. */
  readonly columns?: Partial<ParquetColumns>;
  /** Further columns copied into each sample's `metadata` (punsafe, pwatermark, …). @default [] */
  readonly extraColumns?: readonly string[];
  /** Which embeddings of the clip-retrieval layout to read. @default 'both' */
  readonly embeddings?: 'both' | 'image' | 'text' | 'none';
  /**
   * Whether a row needs a caption. An embeddings folder of an uncaptioned pool (ImageFolder, reference
   * sets) has none; with `false` a missing caption column or an empty caption reads as ''. @default true
   */
  readonly captionRequired?: boolean;
}

/** One metadata row, with its embeddings when the pool has them. */
export interface ParquetSample extends PoolSampleBase {
  /** Row number inside its parquet part. */
  readonly row: number;
  readonly url: string | undefined;
  readonly path: string | undefined;
  readonly caption: string;
  readonly width: number | undefined;
  readonly height: number | undefined;
  readonly similarity: number | undefined;
  readonly imageEmbedding: Float32Array | undefined;
  readonly textEmbedding: Float32Array | undefined;
  readonly metadata: Readonly<Record<string, unknown>>;
}

interface Part {
  parquet: string;
  imageNpy: string | undefined;
  textNpy: string | undefined;
}

/**
 * Streams a LAION-style metadata pool, optionally with clip-retrieval embeddings, one row group at a
 * time (memory: one row group plus its embedding rows).
 *
 * Cursor: `shard` is the part index (metadata_N in N order, or the `metadata` list order), `offset`
 * the row inside it. A part with missing columns (MISSING_COLUMNS, naming them) or whose .npy files
 * disagree with the parquet on the row count (ROW_COUNT_MISMATCH, naming both files and counts) yields
 * one error record and is skipped. Rows without a caption or without url and path are MISSING_CAPTION
 * / MISSING_IMAGE records.
 */
export async function* readParquetPool(options: ParquetPoolOptions): AsyncGenerator<PoolRecord<ParquetSample>> {
  const parts = await listParts(options);
  const columns = { ...DEFAULT_PARQUET_COLUMNS, ...options.columns };
  const from = validateCursor(options.resumeFrom, parts.length);
  for (let index = from.shard; index < parts.length; index++) {
    const part = parts[index] as Part;
    const nextPart = { shard: index + 1, offset: 0 };
    const opened = await openPart(part, columns, options.extraColumns ?? [], options.captionRequired ?? true);
    if (opened instanceof DatasetError) {
      options.signal?.throwIfAborted();
      yield errorRecord(opened, nextPart);
      continue;
    }
    try {
      const startRow = index === from.shard ? from.offset : 0;
      for (const [groupStart, groupEnd] of rowGroupRanges(opened.metadata)) {
        if (groupEnd <= startRow) continue;
        const rowStart = Math.max(groupStart, startRow);
        const rows = await parquetReadObjects({
          file: opened.buffer,
          metadata: opened.metadata,
          columns: opened.readColumns,
          rowStart,
          rowEnd: groupEnd,
        });
        const count = groupEnd - rowStart;
        const imageValues = await opened.image?.readRows(rowStart, count);
        const textValues = await opened.text?.readRows(rowStart, count);
        for (let i = 0; i < rows.length; i++) {
          const row = rowStart + i;
          const cursor = row + 1 < opened.rows ? { shard: index, offset: row + 1 } : nextPart;
          options.signal?.throwIfAborted();
          const sample = toSample(part.parquet, row, rows[i] ?? {}, opened, {
            image: slice(imageValues, opened.image?.dim, i),
            text: slice(textValues, opened.text?.dim, i),
          });
          yield sample instanceof DatasetError ? errorRecord(sample, cursor) : sampleRecord(sample, cursor);
        }
      }
    } finally {
      await opened.close();
    }
  }
}

async function listParts(options: ParquetPoolOptions): Promise<Part[]> {
  if ((options.metadata === undefined) === (options.embeddingsDir === undefined)) {
    throw new DatasetError('INVALID_OPTION', 'give exactly one of metadata (parquet files) or embeddingsDir (clip-retrieval folder)');
  }
  if (options.metadata !== undefined) {
    return resolveShards(options.metadata, options.root).map((parquet) => ({ parquet, imageNpy: undefined, textNpy: undefined }));
  }
  const dir = options.embeddingsDir ?? '';
  const metadataDir = join(dir, 'metadata');
  let names: string[];
  try {
    names = await readdir(metadataDir);
  } catch (cause) {
    throw new DatasetError('FILE_UNREADABLE', `no metadata/ folder in the clip-retrieval output: ${describeCause(cause)}`, { file: metadataDir, cause });
  }
  const numbered = names
    .map((name) => ({ name, n: /^metadata_(\d+)\.parquet$/.exec(name)?.[1] }))
    .filter((entry): entry is { name: string; n: string } => entry.n !== undefined)
    .sort((a, b) => Number(a.n) - Number(b.n));
  const which = options.embeddings ?? 'both';
  const wantImage = (which === 'both' || which === 'image') && existsSync(join(dir, 'img_emb'));
  const wantText = (which === 'both' || which === 'text') && existsSync(join(dir, 'text_emb'));
  return numbered.map(({ name, n }) => ({
    parquet: join(metadataDir, name),
    imageNpy: wantImage ? join(dir, 'img_emb', `img_emb_${n}.npy`) : undefined,
    textNpy: wantText ? join(dir, 'text_emb', `text_emb_${n}.npy`) : undefined,
  }));
}

interface OpenPart {
  captionRequired: boolean;
  buffer: AsyncBuffer;
  metadata: FileMetaData;
  rows: number;
  readColumns: string[];
  fields: Record<keyof ParquetColumns, string | undefined>;
  extra: readonly string[];
  image: NpyReader | undefined;
  text: NpyReader | undefined;
  close(): Promise<void>;
}

async function openPart(
  part: Part,
  columns: ParquetColumns,
  extra: readonly string[],
  captionRequired: boolean,
): Promise<OpenPart | DatasetError> {
  const file = part.parquet;
  const handles: Array<{ close(): Promise<void> }> = [];
  const closeAll = async (): Promise<void> => {
    await Promise.all(handles.map((handle) => handle.close()));
  };
  try {
    const fileHandle = await open(file, 'r').catch((cause: unknown) => {
      throw new DatasetError('FILE_UNREADABLE', `cannot open parquet: ${describeCause(cause)}`, { file, cause });
    });
    handles.push(fileHandle);
    const buffer = await fileBuffer(fileHandle);
    const metadata = await parquetMetadataAsync(buffer).catch((cause: unknown) => {
      throw new DatasetError('INVALID_METADATA', `not a readable parquet file: ${describeCause(cause)}`, { file, cause });
    });
    const available = parquetSchema(metadata).children.map((child) => child.element.name);
    const has = new Set(available);
    const pick = (names: readonly string[]): string | undefined => names.find((name) => has.has(name));
    const fields = {
      key: pick(columns.key),
      url: pick(columns.url),
      path: pick(columns.path),
      caption: pick(columns.caption),
      width: pick(columns.width),
      height: pick(columns.height),
      similarity: pick(columns.similarity),
    };
    const missing: string[] = [];
    if (fields.caption === undefined && captionRequired) missing.push(`caption (tried ${columns.caption.join(', ')})`);
    if (fields.url === undefined && fields.path === undefined) missing.push(`url or path (tried ${[...columns.url, ...columns.path].join(', ')})`);
    for (const name of extra) if (!has.has(name)) missing.push(name);
    if (missing.length > 0) {
      throw new DatasetError('MISSING_COLUMNS', `missing column(s) ${missing.join('; ')}; the file has ${available.join(', ')}`, { file });
    }
    const rows = Number(metadata.num_rows);
    const image = part.imageNpy === undefined ? undefined : await NpyReader.open(part.imageNpy);
    if (image !== undefined) handles.push(image);
    const text = part.textNpy === undefined ? undefined : await NpyReader.open(part.textNpy);
    if (text !== undefined) handles.push(text);
    for (const npy of [image, text]) {
      if (npy !== undefined && npy.rows !== rows) {
        throw new DatasetError('ROW_COUNT_MISMATCH', `${npy.file} has ${npy.rows} rows but ${file} has ${rows}; part skipped`, { file });
      }
    }
    const readColumns = [...new Set([...Object.values(fields).filter((name): name is string => name !== undefined), ...extra])];
    return { buffer, metadata, rows, readColumns, fields, extra, captionRequired, image, text, close: closeAll };
  } catch (error) {
    await closeAll();
    if (error instanceof DatasetError) return error;
    return new DatasetError('FILE_UNREADABLE', `cannot read part: ${describeCause(error)}`, { file, cause: error });
  }
}

/** hyparquet's file access through one handle and positioned reads. */
async function fileBuffer(handle: FileHandle): Promise<AsyncBuffer> {
  const { size } = await handle.stat();
  return {
    byteLength: size,
    async slice(start: number, end = size): Promise<ArrayBuffer> {
      const out = new Uint8Array(new ArrayBuffer(Math.max(0, end - start)));
      let filled = 0;
      while (filled < out.length) {
        const { bytesRead } = await handle.read(out, filled, out.length - filled, start + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return out.buffer;
    },
  };
}

function rowGroupRanges(metadata: FileMetaData): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  let start = 0;
  for (const group of metadata.row_groups) {
    const end = start + Number(group.num_rows);
    ranges.push([start, end]);
    start = end;
  }
  return ranges;
}

function slice(values: Float32Array | undefined, dim: number | undefined, row: number): Float32Array | undefined {
  if (values === undefined || dim === undefined) return undefined;
  return values.subarray(row * dim, (row + 1) * dim);
}

function toSample(
  file: string,
  row: number,
  values: Record<string, unknown>,
  part: OpenPart,
  embeddings: { image: Float32Array | undefined; text: Float32Array | undefined },
): ParquetSample | DatasetError {
  const { fields } = part;
  const get = (column: string | undefined): unknown => (column === undefined ? undefined : values[column]);
  const url = asString(get(fields.url));
  const path = asString(get(fields.path));
  const key = asString(get(fields.key));
  const where = { file, key: key ?? `row ${row}` };
  const caption = asString(get(fields.caption));
  if ((caption === undefined || caption.trim() === '') && part.captionRequired) {
    return new DatasetError('MISSING_CAPTION', 'row has no caption', where);
  }
  if (url === undefined && path === undefined) return new DatasetError('MISSING_IMAGE', 'row has neither a url nor a path', where);
  const metadata: Record<string, unknown> = {};
  for (const name of part.extra) metadata[name] = plain(values[name]);
  return {
    sourceId: key ?? url ?? path ?? `${basename(file)}#${row}`,
    file,
    row,
    url,
    path,
    caption: caption ?? '',
    width: asNumber(get(fields.width)),
    height: asNumber(get(fields.height)),
    similarity: asNumber(get(fields.similarity)),
    imageEmbedding: embeddings.image,
    textEmbedding: embeddings.text,
    metadata,
  };
}

function asString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function asNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'bigint') return Number(value);
  return undefined;
}

/** int64 columns come back as bigint, which JSON cannot carry. */
function plain(value: unknown): unknown {
  return typeof value === 'bigint' ? Number(value) : value;
}
