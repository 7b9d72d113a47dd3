import { access, open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  readCaptionedShards,
  readClassShards,
  readOpenClipart,
  readOpenImagesPool,
  resolveShards,
  SHIFT_FILES,
  type Cursor,
  type DatasetError,
  type PoolRecord,
} from '@select/datasets';
import { ServiceError } from '@select/platform';
import type { Candidate, PoolInfo } from '../chain/step.js';
import { mergeLabelFiles } from './openimages-labels.js';

export const POOL_FORMATS = ['openclipart', 'openimages', 'webdataset', 'captions-jsonl', 'shift'] as const;
export type PoolFormat = (typeof POOL_FORMATS)[number];

/** A shard task's slice of the pool: the records from `start` (a reader cursor) up to `end`. */
export interface TaskRange {
  start: Cursor;
  end: Cursor;
  /** Records in the range (what progress counts). */
  records: number;
}

/** What reading a task gives: a candidate, or a record that could not be read (a dropped decision). */
export type PoolItem = { ok: true; candidate: Candidate } | { ok: false; sourceId: string; reason: string };

export interface PoolSource {
  /** Splits the pool into ranges of at most `taskSize` records, reading only what it must (no pixels). */
  plan(taskSize: number, limit: number, signal: AbortSignal): Promise<TaskRange[]>;
  read(range: TaskRange, signal: AbortSignal): AsyncIterable<PoolItem>;
  /**
   * The same items as `read`, several at a time, for pools whose reader produces them in chunks anyway
   * (captions-jsonl): one await per chunk instead of one per record, ~0.2 µs and a few short-lived
   * objects less per candidate.
   */
  readChunks?(range: TaskRange, signal: AbortSignal): AsyncIterable<readonly PoolItem[]>;
}

export function compareCursors(a: Cursor, b: Cursor): number {
  return a.shard - b.shard || a.offset - b.offset;
}

/** INVALID_ARGUMENT up front for a pool that cannot be read at all. */
export async function validatePool(pool: PoolInfo): Promise<void> {
  if (!(POOL_FORMATS as readonly string[]).includes(pool.format)) {
    throw ServiceError.invalidArgument(`pool.format "${pool.format}" is not one of ${POOL_FORMATS.join(', ')}`);
  }
  const exists = async (path: string, what: string): Promise<void> => {
    if (path === '') throw ServiceError.invalidArgument(`pool.${what} is required for ${pool.format} pools`);
    await access(path).catch(() => {
      throw ServiceError.invalidArgument(`pool.${what} ${path} does not exist or cannot be read`);
    });
  };
  switch (pool.format) {
    case 'openclipart':
    case 'captions-jsonl':
      await exists(pool.uri, 'uri');
      return;
    case 'webdataset': {
      let shards: string[];
      try {
        shards = resolveShards(pool.uri);
      } catch (error) {
        throw ServiceError.invalidArgument(`pool.uri ${pool.uri}: ${(error as Error).message}`);
      }
      for (const shard of shards) await exists(shard, 'uri shard');
      return;
    }
    case 'shift': {
      await exists(pool.uri, 'uri');
      const shards = await shiftShards(pool.uri);
      for (const shard of shards) await exists(shard.file, 'uri shard');
      return;
    }
    case 'openimages':
      if (pool.labelUris.length === 0) throw ServiceError.invalidArgument('openimages pools need pool.label_uris (image-level label CSVs)');
      for (const file of pool.labelUris) await exists(file, 'label_uris');
      await exists(pool.classDescriptionsUri, 'class_descriptions_uri');
      if (pool.hierarchyUri !== '') await exists(pool.hierarchyUri, 'hierarchy_uri');
      await exists(pool.imagesUri, 'images_uri');
      return;
  }
}

/** The pool reader of a build; `stagingDir` holds what planning derives (the merged label file). */
export function openPool(pool: PoolInfo, stagingDir: string): PoolSource {
  switch (pool.format as PoolFormat) {
    case 'openclipart':
      return new OpenClipartPool(pool);
    case 'openimages':
      return new OpenImagesPool(pool, join(stagingDir, 'labels-merged.csv'));
    case 'webdataset':
      return new WebDatasetPool(pool);
    case 'captions-jsonl':
      return new CaptionsJsonlPool(pool);
    case 'shift':
      return new ShiftPool(pool);
    default:
      throw ServiceError.invalidArgument(`pool.format "${pool.format}" is not one of ${POOL_FORMATS.join(', ')}`);
  }
}

function badItem(error: DatasetError, cursor: Cursor): PoolItem {
  return { ok: false, sourceId: error.key ?? `${error.file ?? 'pool'}@${cursor.shard}:${cursor.offset}`, reason: `bad-record: ${error.code}: ${error.message}`.slice(0, 300) };
}

/** Ranges of `taskSize` records from a stream of record cursors. */
async function rangesOf(cursors: AsyncIterable<Cursor>, first: Cursor, taskSize: number, limit: number): Promise<TaskRange[]> {
  const ranges: TaskRange[] = [];
  let start = first;
  let records = 0;
  let total = 0;
  let last = first;
  for await (const cursor of cursors) {
    records++;
    total++;
    last = cursor;
    if (records === taskSize) {
      ranges.push({ start, end: cursor, records });
      start = cursor;
      records = 0;
    }
    if (limit > 0 && total >= limit) break;
  }
  if (records > 0) ranges.push({ start, end: last, records });
  return ranges;
}

/** Yields a reader's records of one range: from `range.start` until a record's cursor reaches `range.end`. */
async function* withinRange<S>(records: AsyncIterable<PoolRecord<S>>, range: TaskRange, toCandidate: (sample: S) => Candidate): AsyncGenerator<PoolItem> {
  for await (const record of records) {
    yield record.ok ? { ok: true, candidate: toCandidate(record.sample) } : badItem(record.error, record.cursor);
    if (compareCursors(record.cursor, range.end) >= 0) return;
  }
}

class OpenClipartPool implements PoolSource {
  constructor(private readonly pool: PoolInfo) {}

  async plan(taskSize: number, limit: number, signal: AbortSignal): Promise<TaskRange[]> {
    const pool = this.pool;
    async function* cursors(): AsyncGenerator<Cursor> {
      for await (const record of readOpenClipart({ root: pool.uri, render: false, signal })) yield record.cursor;
    }
    return rangesOf(cursors(), { shard: 0, offset: 0 }, taskSize, limit);
  }

  read(range: TaskRange, signal: AbortSignal): AsyncIterable<PoolItem> {
    return withinRange(readOpenClipart({ root: this.pool.uri, render: false, resumeFrom: range.start, signal }), range, (sample) => ({
      sourceId: sample.sourceId,
      caption: sample.caption,
      image: { path: sample.file, format: 'svg' },
      metadata: { category: sample.category },
    }));
  }
}

class OpenImagesPool implements PoolSource {
  constructor(
    private readonly pool: PoolInfo,
    private readonly mergedLabels: string,
  ) {}

  async plan(taskSize: number, limit: number, signal: AbortSignal): Promise<TaskRange[]> {
    const { starts, end } = await mergeLabelFiles(this.pool.labelUris, this.mergedLabels, signal);
    // One cursor per image: the byte offset of its first row in the merged file; the next image's start ends it.
    async function* cursors(): AsyncGenerator<Cursor> {
      for (let i = 1; i < starts.length; i++) yield { shard: 0, offset: starts[i]! };
      if (starts.length > 0) yield { shard: 1, offset: 0 };
    }
    return rangesOf(cursors(), { shard: 0, offset: starts[0] ?? end }, taskSize, limit);
  }

  read(range: TaskRange, signal: AbortSignal): AsyncIterable<PoolItem> {
    const records = readOpenImagesPool({
      labelsCsv: this.mergedLabels,
      classDescriptionsCsv: this.pool.classDescriptionsUri,
      imagesDir: this.pool.imagesUri,
      minConfidence: 0,
      resumeFrom: range.start,
      signal,
    });
    return withinRange(records, range, (sample) => ({
      sourceId: sample.imageId,
      image: { path: sample.file ?? join(this.pool.imagesUri, `${sample.imageId}.jpg`), format: sample.image.format },
      labels: sample.labels.map((l) => ({ id: l.mid, confidence: l.confidence, ...(l.source === undefined ? {} : { source: l.source }) })),
    }));
  }
}

class WebDatasetPool implements PoolSource {
  constructor(private readonly pool: PoolInfo) {}

  async plan(_taskSize: number, limit: number, signal: AbortSignal): Promise<TaskRange[]> {
    // One task per shard: tar shards are the natural unit (img2dataset writes 10k samples each).
    const shards = resolveShards(this.pool.uri);
    const ranges: TaskRange[] = [];
    let total = 0;
    for (const [index] of shards.entries()) {
      signal.throwIfAborted();
      let records = 0;
      for await (const record of readCaptionedShards({ shards: this.pool.uri, resumeFrom: { shard: index, offset: 0 }, signal })) {
        if (record.cursor.shard !== index) {
          records++;
          break;
        }
        records++;
        if (limit > 0 && total + records >= limit) break;
      }
      ranges.push({ start: { shard: index, offset: 0 }, end: { shard: index + 1, offset: 0 }, records });
      total += records;
      if (limit > 0 && total >= limit) break;
    }
    return ranges;
  }

  read(range: TaskRange, signal: AbortSignal): AsyncIterable<PoolItem> {
    return withinRange(readCaptionedShards({ shards: this.pool.uri, resumeFrom: range.start, signal }), range, (sample) => ({
      sourceId: sample.key,
      caption: sample.caption,
      image: { bytes: sample.image.bytes, format: sample.image.format },
    }));
  }
}

/**
 * The shards of a shift folder (what a ShiftWriter wrote: the generation service's batch output, or
 * a published shift) from its timm `_info.json`: file and sample count per shard.
 */
export async function shiftShards(dir: string): Promise<Array<{ file: string; samples: number }>> {
  const infoFile = join(dir, SHIFT_FILES.timmInfo);
  let info: { splits?: { train?: { filenames?: unknown; shard_lengths?: unknown } } };
  try {
    info = JSON.parse(await readFile(infoFile, 'utf8')) as typeof info;
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw ServiceError.invalidArgument(
      missing ? `pool.uri ${dir} is not a shift folder: it has no ${SHIFT_FILES.timmInfo}` : `pool.uri ${dir}: ${SHIFT_FILES.timmInfo} cannot be read: ${(error as Error).message}`,
    );
  }
  const names = info.splits?.train?.filenames;
  const lengths = info.splits?.train?.shard_lengths;
  if (!Array.isArray(names) || !names.every((n) => typeof n === 'string') || !Array.isArray(lengths) || lengths.length !== names.length) {
    throw ServiceError.invalidArgument(`pool.uri ${dir}: ${SHIFT_FILES.timmInfo} has no splits.train.filenames with shard_lengths`);
  }
  return (names as string[]).map((name, i) => ({ file: join(dir, name), samples: Number(lengths[i]) || 0 }));
}

/**
 * A shift as a pool (format `shift`): its shards read with readClassShards, one task per shard (counts
 * from `_info.json`, nothing read to plan). The sample key is the candidate's source id; the sample's
 * class, prompt, seed and caption (a curated shift's `extra.caption`) come along, so generated images
 * keep their prompted or inherited label and their prompt and seed reach the new shift's provenance.
 */
class ShiftPool implements PoolSource {
  constructor(private readonly pool: PoolInfo) {}

  async plan(_taskSize: number, limit: number, signal: AbortSignal): Promise<TaskRange[]> {
    const shards = await shiftShards(this.pool.uri);
    const ranges: TaskRange[] = [];
    let total = 0;
    for (const [index, shard] of shards.entries()) {
      signal.throwIfAborted();
      const records = limit > 0 ? Math.min(shard.samples, limit - total) : shard.samples;
      if (records <= 0) break;
      ranges.push({ start: { shard: index, offset: 0 }, end: { shard: index + 1, offset: 0 }, records });
      total += records;
    }
    return ranges;
  }

  async *read(range: TaskRange, signal: AbortSignal): AsyncGenerator<PoolItem> {
    const shards = (await shiftShards(this.pool.uri)).map((s) => s.file);
    let count = 0;
    for await (const record of readClassShards({ shards, resumeFrom: range.start, signal })) {
      if (record.cursor.shard > range.start.shard && compareCursors(record.cursor, range.end) > 0) return;
      if (!record.ok) {
        yield badItem(record.error, record.cursor);
      } else {
        const s = record.sample;
        const meta = s.metadata ?? {};
        const extra = (meta['extra'] ?? {}) as Record<string, unknown>;
        const candidate: Candidate = {
          sourceId: s.key,
          image: { bytes: s.image.bytes, format: s.image.format },
          classIndex: s.classIndex,
          ...(s.wnid === undefined ? {} : { wnid: s.wnid }),
          ...(typeof meta['prompt'] === 'string' && meta['prompt'] !== '' ? { prompt: meta['prompt'] } : {}),
          ...(typeof meta['seed'] === 'number' ? { seed: meta['seed'] } : {}),
          ...(typeof extra['caption'] === 'string' ? { caption: extra['caption'] } : {}),
          ...(typeof meta['source_id'] === 'string' ? { metadata: { shiftSourceId: meta['source_id'] } } : {}),
        };
        yield { ok: true, candidate };
      }
      count++;
      if (count >= range.records || compareCursors(record.cursor, range.end) >= 0) return;
    }
  }
}

/**
 * Text-only pool for dry runs and benchmarks: one JSON object per line with `id` and `caption`.
 * Cursor: shard 0, offset = byte offset of the next line.
 */
class CaptionsJsonlPool implements PoolSource {
  constructor(private readonly pool: PoolInfo) {}

  async plan(taskSize: number, limit: number, signal: AbortSignal): Promise<TaskRange[]> {
    // The coordinator plans alone while the workers wait, so this only finds newline bytes: no strings.
    const ranges: TaskRange[] = [];
    let start = 0;
    let records = 0;
    let total = 0;
    let last = 0;
    await forEachLine(this.pool.uri, 0, signal, (_buffer, _start, _stop, end) => {
      records++;
      total++;
      last = end;
      if (records === taskSize) {
        ranges.push({ start: { shard: 0, offset: start }, end: { shard: 0, offset: end }, records });
        start = end;
        records = 0;
      }
      return !(limit > 0 && total >= limit);
    });
    if (records > 0) ranges.push({ start: { shard: 0, offset: start }, end: { shard: 0, offset: last }, records });
    return ranges;
  }

  async *read(range: TaskRange, signal: AbortSignal): AsyncGenerator<PoolItem> {
    for await (const chunk of this.readChunks(range, signal)) yield* chunk;
  }

  async *readChunks(range: TaskRange, signal: AbortSignal): AsyncGenerator<readonly PoolItem[]> {
    let count = 0;
    let done = false;
    let items: PoolItem[] = [];
    const uri = this.pool.uri;
    const onLine = (buffer: Buffer, start: number, stop: number, end: number, base: number): boolean => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(buffer.toString('utf8', start, stop));
      } catch {
        parsed = undefined;
      }
      const record = parsed as { id?: unknown; caption?: unknown } | undefined | null;
      if (record === undefined || record === null || typeof record.id !== 'string' || record.id === '' || typeof record.caption !== 'string') {
        items.push({ ok: false, sourceId: `${uri}@${base + start}`, reason: 'bad-record: line is not {"id": string, "caption": string}' });
      } else {
        items.push({ ok: true, candidate: { sourceId: record.id, caption: record.caption } });
      }
      count++;
      done = end >= range.end.offset || count >= range.records;
      return !done;
    };
    // A chunk's lines are parsed at once and handed out one by one (no await per line inside a chunk).
    for await (const { buffer, base, length } of lineChunks(uri, range.start.offset, signal)) {
      let start = 0;
      while (start < length && !done) {
        let stop = buffer.indexOf(0x0a, start);
        if (stop === -1 || stop >= length) stop = length;
        if (!isBlankLine(buffer, start, stop)) onLine(buffer, start, stop, base + Math.min(stop + 1, length), base);
        start = stop + 1;
      }
      const chunk = items;
      items = [];
      if (chunk.length > 0) yield chunk;
      if (done) return;
    }
  }
}

/** Bytes read per chunk by the JSONL reader. */
const JSONL_CHUNK_BYTES = 1 << 20;

/** True when bytes [start, end) hold only whitespace (the lines a JSONL reader skips). */
function isBlankLine(buffer: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const byte = buffer[i]!;
    // Space, tab, CR, vertical tab, form feed; a non-ASCII byte may start Unicode whitespace: decide on the text.
    if (byte === 0x20 || (byte >= 0x09 && byte <= 0x0d)) continue;
    if (byte >= 0x80) return buffer.toString('utf8', start, end).trim() === '';
    return false;
  }
  return true;
}

/**
 * A file from a byte offset in chunks of whole lines: each chunk is `buffer[0, length)` at file offset
 * `base`, ending just after a newline (or at the end of the file). One buffer is reused: the caller is
 * done with a chunk when it asks for the next one. A line longer than the buffer grows it. Lines end at
 * "\n"; a "\r" before it stays in the line (JSON.parse skips it as whitespace).
 */
async function* lineChunks(file: string, from: number, signal: AbortSignal): AsyncGenerator<{ buffer: Buffer; base: number; length: number }> {
  const handle = await open(file, 'r');
  try {
    const size = (await handle.stat()).size;
    let buffer = Buffer.allocUnsafe(Math.max(1, Math.min(JSONL_CHUNK_BYTES, size - from)));
    let position = from;
    while (position < size) {
      signal.throwIfAborted();
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, size - position), position);
      if (bytesRead === 0) break;
      if (position + bytesRead >= size) {
        yield { buffer, base: position, length: bytesRead };
        break;
      }
      const lastNewline = buffer.lastIndexOf(0x0a, bytesRead - 1);
      if (lastNewline === -1) {
        // One line longer than the buffer: read it again with room for it.
        buffer = Buffer.allocUnsafe(buffer.length * 2);
        continue;
      }
      yield { buffer, base: position, length: lastNewline + 1 };
      position += lastNewline + 1;
    }
  } finally {
    await handle.close();
  }
}

/**
 * Calls `onLine(buffer, start, stop, end)` for each non-blank line of a file from a byte offset: the line is
 * `buffer[start, stop)` and `end` is the file offset after its newline. `onLine` returns false to stop.
 */
async function forEachLine(file: string, from: number, signal: AbortSignal, onLine: (buffer: Buffer, start: number, stop: number, end: number) => boolean): Promise<void> {
  for await (const { buffer, base, length } of lineChunks(file, from, signal)) {
    let start = 0;
    while (start < length) {
      let stop = buffer.indexOf(0x0a, start);
      if (stop === -1 || stop >= length) stop = length;
      const end = base + Math.min(stop + 1, length);
      if (!isBlankLine(buffer, start, stop) && !onLine(buffer, start, stop, end)) return;
      start = stop + 1;
    }
  }
}

/** Files in a directory (used by tests and the CLI to explain an empty pool). */
export async function countEntries(dir: string): Promise<number> {
  return (await readdir(dir)).length;
}
