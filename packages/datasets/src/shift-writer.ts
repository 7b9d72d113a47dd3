import { mkdir, open, readdir, readFile, rename, stat, truncate, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type * as Platform from '@select/platform';
import sharp from 'sharp';
import { DatasetError, describeCause } from './errors.js';
import { sniffImageFormat } from './image-decode.js';
import { paramsHash, sampleId } from './sample-id.js';
import { readManifestLines, shardIndex, shardName, SHIFT_FILES, type ManifestEntry } from './shift-manifest.js';
import { readTarMembers } from './tar-reader.js';
import { sampleBytes, SHARD_TRAILER_BYTES, TarShardFile } from './tar-shard-file.js';

// @select/platform (with gRPC and protobufjs: ~5 MB of V8 heap) is loaded when a shift is first written,
// not when the package is imported, so that a process that only reads pools keeps a small heap: V8 runs a
// mark-compact for about every 64 MB of decoded pixels handed out as Buffers, and each one walks the
// whole heap (on the datasets-read benchmark this cut CPU per decoded image by a quarter to a third).
let platform: Promise<typeof Platform> | undefined;
const loadPlatform = (): Promise<typeof Platform> => (platform ??= import('@select/platform'));
async function writeFileAtomic(path: string, data: string): Promise<void> {
  await (await loadPlatform()).writeFileAtomic(path, data);
}
async function syncDirectory(dir: string): Promise<void> {
  await (await loadPlatform()).syncDirectory(dir);
}

export interface ShiftWriterOptions {
  /** Name of the shift, e.g. `la1000-txt2img`. */
  readonly name: string;
  /** Curation strategy that selected the samples; part of every sample id. */
  readonly strategy: string;
  /** Strategy parameters (threshold, k, models, …); their hash goes into every sample's provenance. @default {} */
  readonly params?: Readonly<Record<string, unknown>>;
  /**
   * The label space: wnids in class-index order (the sorted ImageNet-1k wnids). With it a sample may
   * give its class index or its wnid and the other is filled in; without it a sample must give both.
   * @default undefined
   */
  readonly classes?: readonly string[];
  /** A shard is complete at this many samples. @default 10000 */
  readonly maxSamplesPerShard?: number;
  /**
   * A shard is complete before a sample that would take it past this size. A single larger sample gets
   * a shard of its own. @default 1073741824 (1 GiB)
   */
  readonly maxBytesPerShard?: number;
  /** Quality of JPEGs the writer encodes (non-JPEG input, raw pixels, reencodeJpeg). @default 95 */
  readonly jpegQuality?: number;
  /** Re-encode JPEG input too instead of storing its bytes unchanged. @default false */
  readonly reencodeJpeg?: boolean;
}

/** Quality of the JPEGs a shift encodes unless ShiftWriterOptions.jpegQuality says otherwise. */
const DEFAULT_JPEG_QUALITY = 95;

function checkJpegQuality(quality: number): void {
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) throw new DatasetError('INVALID_OPTION', `jpegQuality must be an integer in 1..100, got ${quality}`);
}

type ResolvedOptions = Required<Omit<ShiftWriterOptions, 'classes'>> & Pick<ShiftWriterOptions, 'classes'>;

function addShiftWriterDefaults(options: ShiftWriterOptions): ResolvedOptions {
  const resolved = {
    params: {},
    maxSamplesPerShard: 10_000,
    maxBytesPerShard: 1024 ** 3,
    jpegQuality: DEFAULT_JPEG_QUALITY,
    reencodeJpeg: false,
    ...options,
  };
  const positive = (name: string, value: number): void => {
    if (!Number.isSafeInteger(value) || value < 1) throw new DatasetError('INVALID_OPTION', `${name} must be a positive integer, got ${value}`);
  };
  positive('maxSamplesPerShard', resolved.maxSamplesPerShard);
  positive('maxBytesPerShard', resolved.maxBytesPerShard);
  checkJpegQuality(resolved.jpegQuality);
  if (resolved.name.trim() === '' || resolved.strategy.trim() === '') throw new DatasetError('INVALID_OPTION', 'name and strategy must not be empty');
  return resolved;
}

/** Decoded pixels, as a generator produces them. */
export interface RawImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 2 | 3 | 4;
}

/** One curated sample and where it came from. */
export interface ShiftSample {
  /** The item's id in its pool; with the strategy (and seed) it fixes the sample id. */
  readonly sourceId: string;
  readonly classIndex?: number;
  readonly wnid?: string;
  /** Encoded image bytes (JPEG stored as is, anything sharp reads re-encoded) or raw pixels. */
  readonly image: Uint8Array | RawImage;
  /** The strategy's score for this sample (similarity, distance, …). */
  readonly score?: number;
  /** Models involved, by role: `{ text: 'clip-vit-b32', generator: 'sd-1.5' }`. */
  readonly modelIds?: Readonly<Record<string, string>>;
  /** Prompt of a generated image. */
  readonly prompt?: string;
  /** Seed of a generated image; part of the sample id. */
  readonly seed?: number;
  /** Further provenance, stored under `extra` in the sample's JSON. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

export interface AddResult {
  readonly id: string;
  readonly key: string;
  /** False when the shift already holds this id; nothing was written. */
  readonly added: boolean;
}

/** shift.json: what the shift is and what it holds. */
export interface ShiftSummary {
  readonly format: 'select-shift/1';
  readonly name: string;
  readonly strategy: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly params_hash: string;
  readonly max_samples_per_shard: number;
  readonly max_bytes_per_shard: number;
  readonly jpeg_quality: number;
  readonly created_at: string;
  readonly updated_at: string;
  /** True once close() has written the last shard. */
  readonly complete: boolean;
  /** Committed samples, shards and non-empty classes; samples of an open shard are not counted. */
  readonly counts: { readonly samples: number; readonly shards: number; readonly classes: number };
  readonly shards: ReadonlyArray<{ readonly name: string; readonly samples: number; readonly bytes: number }>;
  /**
   * The shard suspend() left open (kept under its temporary name, continued by the next open()) and
   * how many samples it holds; null when none is.
   */
  readonly open_shard: { readonly name: string; readonly samples: number } | null;
}

/** One row of class_counts.json. */
export interface ClassCount {
  readonly class_index: number;
  readonly wnid: string;
  readonly count: number;
}

interface OpenShard {
  index: number;
  file: TarShardFile;
  entries: ManifestEntry[];
}

/** open-shard.json: what suspend() kept of the open shard. */
interface OpenShardCheckpoint {
  shard: string;
  /** The temporary shard file's length at suspend(); bytes past it were written after and are cut off. */
  bytes: number;
  entries: ManifestEntry[];
}

interface CommittedShard {
  name: string;
  samples: number;
  bytes: number;
}

const openDirectories = new Set<string>();

/**
 * Writes a curated dataset ("shift") as WebDataset shards that timm's wds reader trains on:
 * `<key>.jpg`, `<key>.cls` (class index as ASCII), `<key>.json` (wnid and full provenance) in
 * `00000.tar`, `00001.tar`, …, plus manifest.jsonl, class_counts.json, shift.json and timm's _info.json.
 *
 * Crash-safe: a shard is written under a temporary name and fsynced, renamed, and only then are its
 * samples appended to the manifest. Opening a directory a crashed writer left behind removes temporary
 * files and uncommitted shards and continues after the last complete shard; `has(id)` tells the caller
 * what is already written, and add() skips those ids, so a restart never duplicates a sample. The same
 * samples added in the same order always give the same shards, crash or no crash.
 */
export class ShiftWriter {
  private readonly ids = new Set<string>();
  private readonly shards: CommittedShard[] = [];
  private readonly classCounts = new Map<number, { wnid: string; count: number }>();
  private readonly indexOfWnid: ReadonlyMap<string, number> | undefined;
  private current: OpenShard | undefined;
  private tail: Promise<void> = Promise.resolve();
  private state: 'open' | 'closed' | 'failed' = 'open';
  // Set when close() or suspend() starts: add() calls made before still go through, later ones are refused.
  private closing = false;
  // Whether open-shard.json is on disk; the commit of the shard it describes removes it.
  private checkpointed = false;
  private failure: unknown;
  private readonly hash: string;
  // Opened once recovery has cut the manifest back to its committed lines.
  private manifest: FileHandle | undefined;

  private constructor(
    readonly dir: string,
    private readonly options: ResolvedOptions,
    private readonly createdAt: string,
  ) {
    this.hash = paramsHash(options.params);
    this.indexOfWnid = options.classes === undefined ? undefined : new Map(options.classes.map((wnid, index) => [wnid, index]));
  }

  /** Opens (creating or resuming) the shift in `dir`. Throws SHIFT_MISMATCH for another shift's directory. */
  static async open(dir: string, options: ShiftWriterOptions): Promise<ShiftWriter> {
    const resolved = addShiftWriterDefaults(options);
    const absolute = resolve(dir);
    if (openDirectories.has(absolute)) throw new DatasetError('SHIFT_MISMATCH', 'a ShiftWriter of this process already writes here', { file: absolute });
    await mkdir(absolute, { recursive: true });
    openDirectories.add(absolute);
    let writer: ShiftWriter | undefined;
    try {
      await takeLock(absolute);
      const previous = await readSummary(absolute);
      if (previous !== undefined) assertSameShift(absolute, previous, resolved);
      const created = new ShiftWriter(absolute, resolved, previous?.created_at ?? new Date().toISOString());
      writer = created;
      created.shards.push(...(await recoverCommitted(absolute, (entry) => created.remember(entry))));
      created.current = await resumeOpenShard(absolute, created.shards.length);
      created.checkpointed = created.current !== undefined;
      for (const entry of created.current?.entries ?? []) created.ids.add(entry.id);
      await removeTemporaryFiles(absolute, created.current?.file.path);
      created.manifest = await open(join(absolute, SHIFT_FILES.manifest), 'a');
      await created.writeSummaries(false, created.openShardInfo());
      return created;
    } catch (error) {
      await writer?.manifest?.close();
      await writer?.current?.file.abandon();
      openDirectories.delete(absolute);
      await unlink(join(absolute, SHIFT_FILES.lock)).catch(() => undefined);
      throw error;
    }
  }

  /** Whether a sample with this id is written or being written. */
  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** The id add() gives a sample of this shift's strategy. */
  idFor(sample: Pick<ShiftSample, 'sourceId' | 'seed'>): string {
    return sampleId({ strategy: this.options.strategy, sourceId: sample.sourceId, ...(sample.seed === undefined ? {} : { seed: sample.seed }) });
  }

  /** Samples written or being written. */
  get size(): number {
    return this.ids.size;
  }

  /**
   * Adds a sample unless its id is already in the shift. Images are encoded as soon as add() is called,
   * so several pending add() calls encode in parallel; samples are written in call order. Rejects with
   * UNKNOWN_CLASS or INVALID_OPTION for a bad label and IMAGE_DECODE for an image that cannot become a
   * JPEG; the writer stays usable. A write failure (disk full) fails this and every later call.
   */
  async add(sample: ShiftSample): Promise<AddResult> {
    this.assertWritable();
    if (this.closing) throw new DatasetError('SHIFT_CLOSED', 'the shift writer is closing', { file: this.dir });
    const id = this.idFor(sample);
    const key = id;
    if (this.ids.has(id)) return { id, key, added: false };
    const label = this.resolveLabel(sample);
    this.ids.add(id);
    const jpeg = toJpeg(sample, this.options);
    jpeg.catch(() => undefined);
    const turn = this.tail.then(async () => {
      let bytes: Buffer;
      try {
        this.assertWritable();
        bytes = await jpeg;
      } catch (error) {
        this.ids.delete(id);
        throw error;
      }
      try {
        await this.write(sample, id, label, bytes);
      } catch (error) {
        this.state = 'failed';
        this.failure = error;
        throw error;
      }
    });
    this.tail = turn.then(
      () => undefined,
      () => undefined,
    );
    await turn;
    return { id, key, added: true };
  }

  /** Writes the last, partial shard and marks the shift complete: it takes no more samples, ever. */
  async close(): Promise<ShiftSummary> {
    return this.finish('close', async () => {
      if (this.current !== undefined) await this.commit();
      return this.writeSummaries(true, null);
    });
  }

  /**
   * Stops writing without completing the shift, so that a later `ShiftWriter.open` on the directory
   * (in this process or another) continues it: for a job that is cancelled, paused or shut down.
   * Waits for the add() calls already made (later ones are refused), keeps every committed shard, and
   * keeps the open shard as it is — fsynced under its temporary name, its samples listed in
   * open-shard.json — so the next open() appends to it and `has()` knows its samples; no short shard is
   * committed, so the shards stay the ones an uninterrupted run writes. Releases the directory.
   *
   * On a writer that failed earlier (a write error), nothing more is written: the directory is
   * released and the call rejects with SHIFT_CLOSED carrying the failure; open() then continues after
   * the last committed shard.
   */
  async suspend(): Promise<ShiftSummary> {
    if (this.state === 'failed') {
      await this.release();
      this.assertWritable();
    }
    return this.finish('suspend', async () => {
      const shard = this.current;
      if (shard === undefined) return this.writeSummaries(false, null);
      const checkpoint: OpenShardCheckpoint = { shard: shardName(shard.index), bytes: await shard.file.pause(), entries: shard.entries };
      this.current = undefined;
      await writeFileAtomic(join(this.dir, SHIFT_FILES.openShard), `${JSON.stringify(checkpoint)}\n`);
      this.checkpointed = true;
      return this.writeSummaries(false, { name: checkpoint.shard, samples: shard.entries.length });
    });
  }

  /** close() and suspend(): refuse new adds, let queued ones finish, run `end`, release the directory. */
  private async finish(call: 'close' | 'suspend', end: () => Promise<ShiftSummary>): Promise<ShiftSummary> {
    this.assertWritable();
    if (this.closing) throw new DatasetError('SHIFT_CLOSED', `${call}() after close() or suspend() was already called`, { file: this.dir });
    this.closing = true;
    await this.tail;
    try {
      this.assertWritable();
      const summary = await end();
      this.state = 'closed';
      return summary;
    } catch (error) {
      if (this.state !== 'failed') {
        this.state = 'failed';
        this.failure = error;
      }
      throw error;
    } finally {
      await this.release();
    }
  }

  /** Closes the files and gives the directory back to the next open(). */
  private async release(): Promise<void> {
    await this.manifest?.close().catch(() => undefined);
    this.manifest = undefined;
    await this.current?.file.abandon();
    this.current = undefined;
    openDirectories.delete(this.dir);
    await unlink(join(this.dir, SHIFT_FILES.lock)).catch(() => undefined);
  }

  private assertWritable(): void {
    if (this.state === 'closed') throw new DatasetError('SHIFT_CLOSED', 'the shift writer is closed', { file: this.dir });
    if (this.state === 'failed') {
      throw new DatasetError('SHIFT_CLOSED', `the shift writer failed earlier: ${describeCause(this.failure)}`, { file: this.dir, cause: this.failure });
    }
  }

  private resolveLabel(sample: ShiftSample): { classIndex: number; wnid: string } {
    const where = { file: this.dir, key: sample.sourceId };
    const { classes } = this.options;
    const { wnid } = sample;
    let { classIndex } = sample;
    if (classIndex !== undefined && (!Number.isSafeInteger(classIndex) || classIndex < 0)) {
      throw new DatasetError('UNKNOWN_CLASS', `class index ${classIndex} is not a non-negative integer`, where);
    }
    if (classes === undefined) {
      if (classIndex === undefined || wnid === undefined) {
        throw new DatasetError('INVALID_OPTION', 'without `classes` a sample must give both classIndex and wnid', where);
      }
      return { classIndex, wnid };
    }
    if (classIndex === undefined) {
      if (wnid === undefined) throw new DatasetError('INVALID_OPTION', 'a sample must give classIndex or wnid', where);
      classIndex = this.indexOfWnid?.get(wnid);
      if (classIndex === undefined) throw new DatasetError('UNKNOWN_CLASS', `wnid ${wnid} is not in the label space`, where);
    }
    const expected = classes[classIndex];
    if (expected === undefined) throw new DatasetError('UNKNOWN_CLASS', `class index ${classIndex} is outside the ${classes.length} classes`, where);
    if (wnid !== undefined && wnid !== expected) {
      throw new DatasetError('UNKNOWN_CLASS', `class index ${classIndex} is ${expected}, not ${wnid}`, where);
    }
    return { classIndex, wnid: expected };
  }

  private async write(sample: ShiftSample, id: string, label: { classIndex: number; wnid: string }, jpeg: Buffer): Promise<void> {
    const key = id;
    const provenance = {
      id,
      key,
      shift: this.options.name,
      class_index: label.classIndex,
      // SELECT's own kNN reader takes the label from json["idx"]; timm reads `.cls`.
      idx: label.classIndex,
      wnid: label.wnid,
      source_id: sample.sourceId,
      strategy: this.options.strategy,
      params_hash: this.hash,
      score: sample.score,
      model_ids: sample.modelIds,
      prompt: sample.prompt,
      seed: sample.seed,
      extra: sample.extra,
    };
    const members: Array<[string, Buffer]> = [
      [`${key}.jpg`, jpeg],
      [`${key}.cls`, Buffer.from(String(label.classIndex), 'ascii')],
      [`${key}.json`, Buffer.from(JSON.stringify(provenance), 'utf8')],
    ];
    const size = sampleBytes(members.map(([, data]) => data.length));
    if (this.current !== undefined && this.current.file.bytes + size + SHARD_TRAILER_BYTES > this.options.maxBytesPerShard) {
      await this.commit();
    }
    if (this.current === undefined) {
      const index = this.shards.length;
      const file = await TarShardFile.create(join(this.dir, `${shardName(index)}.tmp`));
      this.current = { index, file, entries: [] };
    }
    await this.current.file.append(members);
    this.current.entries.push({
      id,
      key,
      shard: shardName(this.current.index),
      class_index: label.classIndex,
      wnid: label.wnid,
      source_id: sample.sourceId,
      ...(sample.score === undefined ? {} : { score: sample.score }),
      ...(sample.seed === undefined ? {} : { seed: sample.seed }),
    });
    if (this.current.entries.length >= this.options.maxSamplesPerShard) await this.commit();
  }

  /** Shard durable under its final name first, manifest second: a manifest line always has its shard. */
  private async commit(): Promise<void> {
    const shard = this.current;
    if (shard === undefined) return;
    this.current = undefined;
    const name = shardName(shard.index);
    const bytes = await shard.file.finish();
    await rename(shard.file.path, join(this.dir, name));
    await syncDirectory(this.dir);
    const manifest = this.manifest;
    if (manifest === undefined) throw new DatasetError('SHIFT_CLOSED', 'the manifest is not open', { file: this.dir });
    await manifest.write(shard.entries.map((entry) => `${JSON.stringify(entry)}\n`).join(''));
    await manifest.sync();
    for (const entry of shard.entries) this.countClass(entry);
    this.shards.push({ name, samples: shard.entries.length, bytes });
    if (this.checkpointed) {
      // Only the shard just committed can have had a checkpoint; it is stale now.
      await unlink(join(this.dir, SHIFT_FILES.openShard)).catch(() => undefined);
      this.checkpointed = false;
    }
    await this.writeSummaries(false, null);
  }

  private openShardInfo(): ShiftSummary['open_shard'] {
    return this.current === undefined ? null : { name: shardName(this.current.index), samples: this.current.entries.length };
  }

  private remember(entry: ManifestEntry): void {
    this.ids.add(entry.id);
    this.countClass(entry);
  }

  private countClass(entry: ManifestEntry): void {
    const counted = this.classCounts.get(entry.class_index);
    if (counted === undefined) this.classCounts.set(entry.class_index, { wnid: entry.wnid, count: 1 });
    else counted.count++;
  }

  private async writeSummaries(complete: boolean, openShard: ShiftSummary['open_shard']): Promise<ShiftSummary> {
    const samples = this.shards.reduce((sum, shard) => sum + shard.samples, 0);
    const summary: ShiftSummary = {
      format: 'select-shift/1',
      name: this.options.name,
      strategy: this.options.strategy,
      params: this.options.params,
      params_hash: this.hash,
      max_samples_per_shard: this.options.maxSamplesPerShard,
      max_bytes_per_shard: this.options.maxBytesPerShard,
      jpeg_quality: this.options.jpegQuality,
      created_at: this.createdAt,
      updated_at: new Date().toISOString(),
      complete,
      counts: { samples, shards: this.shards.length, classes: this.classCounts.size },
      shards: this.shards.map((shard) => ({ ...shard })),
      open_shard: openShard,
    };
    const counts: ClassCount[] = [];
    const { classes } = this.options;
    if (classes !== undefined) {
      // Every class of the label space, empty ones included: coverage is read off this table.
      classes.forEach((wnid, classIndex) => counts.push({ class_index: classIndex, wnid, count: this.classCounts.get(classIndex)?.count ?? 0 }));
    } else {
      for (const [classIndex, { wnid, count }] of [...this.classCounts].sort((a, b) => a[0] - b[0])) counts.push({ class_index: classIndex, wnid, count });
    }
    const timmInfo = {
      name: this.options.name,
      splits: {
        train: {
          name: 'train',
          num_samples: samples,
          filenames: this.shards.map((shard) => shard.name),
          shard_lengths: this.shards.map((shard) => shard.samples),
        },
      },
    };
    await writeFileAtomic(join(this.dir, SHIFT_FILES.classCounts), `[\n${counts.map((row) => JSON.stringify(row)).join(',\n')}\n]\n`);
    await writeFileAtomic(join(this.dir, SHIFT_FILES.timmInfo), `${JSON.stringify(timmInfo, null, 2)}\n`);
    await writeFileAtomic(join(this.dir, SHIFT_FILES.summary), `${JSON.stringify(summary, null, 2)}\n`);
    return summary;
  }
}

async function toJpeg(sample: ShiftSample, options: ResolvedOptions): Promise<Buffer> {
  const { image } = sample;
  try {
    if (image instanceof Uint8Array) return await encodedJpeg(image, options);
    const { data, width, height, channels } = image;
    return await sharp(data, { raw: { width, height, channels } }).flatten({ background: '#ffffff' }).jpeg({ quality: options.jpegQuality }).toBuffer();
  } catch (cause) {
    throw new DatasetError('IMAGE_DECODE', `image cannot be stored as JPEG: ${describeCause(cause)}`, { key: sample.sourceId, cause });
  }
}

async function encodedJpeg(image: Uint8Array, options: Pick<ResolvedOptions, 'jpegQuality' | 'reencodeJpeg'>): Promise<Buffer> {
  const bytes = Buffer.isBuffer(image) ? image : Buffer.from(image.buffer, image.byteOffset, image.byteLength);
  if (!options.reencodeJpeg && sniffImageFormat(bytes) === 'jpeg') {
    // Stored as is (no generation loss); the header check catches bytes that are not a JPEG at all.
    await sharp(bytes).metadata();
    return bytes;
  }
  return await sharp(bytes, { failOn: 'warning' }).flatten({ background: '#ffffff' }).jpeg({ quality: options.jpegQuality }).toBuffer();
}

/**
 * The bytes a shift stores for an encoded image, as ShiftWriter.add() writes them (`<key>.jpg`): JPEG input
 * unchanged, anything else flattened on white and encoded at `jpegQuality`. With the writer's options (defaults:
 * quality 95, no re-encoding) the result is byte-identical to the shard's file, so a content hash of it matches
 * a hash of that file (the contamination gate uses this to recognise images of a shift held out for evaluation).
 */
export async function shiftJpegBytes(image: Uint8Array, options: Pick<ShiftWriterOptions, 'jpegQuality' | 'reencodeJpeg'> = {}): Promise<Buffer> {
  const jpegQuality = options.jpegQuality ?? DEFAULT_JPEG_QUALITY;
  checkJpegQuality(jpegQuality);
  try {
    return await encodedJpeg(image, { jpegQuality, reencodeJpeg: options.reencodeJpeg ?? false });
  } catch (cause) {
    throw new DatasetError('IMAGE_DECODE', `image cannot be stored as JPEG: ${describeCause(cause)}`, { cause });
  }
}

async function readSummary(dir: string): Promise<ShiftSummary | undefined> {
  const file = join(dir, SHIFT_FILES.summary);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new DatasetError('FILE_UNREADABLE', `cannot read shift summary: ${describeCause(cause)}`, { file, cause });
  }
  try {
    return JSON.parse(text) as ShiftSummary;
  } catch (cause) {
    throw new DatasetError('SHIFT_CORRUPT', `shift summary is not JSON: ${describeCause(cause)}`, { file, cause });
  }
}

function assertSameShift(dir: string, previous: ShiftSummary, options: ResolvedOptions): void {
  const differences: string[] = [];
  const compare = (field: string, was: unknown, now: unknown): void => {
    if (was !== now) differences.push(`${field} ${JSON.stringify(was)} -> ${JSON.stringify(now)}`);
  };
  compare('name', previous.name, options.name);
  compare('strategy', previous.strategy, options.strategy);
  compare('params_hash', previous.params_hash, paramsHash(options.params));
  compare('max_samples_per_shard', previous.max_samples_per_shard, options.maxSamplesPerShard);
  compare('max_bytes_per_shard', previous.max_bytes_per_shard, options.maxBytesPerShard);
  compare('jpeg_quality', previous.jpeg_quality, options.jpegQuality);
  if (differences.length > 0) {
    throw new DatasetError('SHIFT_MISMATCH', `the directory holds another shift (${differences.join('; ')}); use a new directory`, { file: dir });
  }
  if (previous.complete) throw new DatasetError('SHIFT_MISMATCH', 'the shift is complete; it cannot take more samples', { file: dir });
}

/** One writer per directory across processes; a lock left by a process that died is taken over. */
async function takeLock(dir: string): Promise<void> {
  const file = join(dir, SHIFT_FILES.lock);
  const holder = Number((await readFile(file, 'utf8').catch(() => '')).trim());
  if (Number.isSafeInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
    throw new DatasetError('SHIFT_MISMATCH', `process ${holder} is writing this shift`, { file });
  }
  await writeFile(file, `${process.pid}\n`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function removeTemporaryFiles(dir: string, keep: string | undefined): Promise<void> {
  for (const name of await readdir(dir)) if (name.endsWith('.tmp') && join(dir, name) !== keep) await unlink(join(dir, name));
}

/**
 * The shard a suspend() left open, reopened for appending when open-shard.json describes the shard
 * after the last committed one and the temporary file still holds exactly its samples (in order) in
 * its first `bytes` bytes. Anything else — a stale checkpoint whose shard was committed since, a
 * missing or damaged file — is dropped, and the writer starts that shard afresh as after a crash.
 */
async function resumeOpenShard(dir: string, committedShards: number): Promise<OpenShard | undefined> {
  const file = join(dir, SHIFT_FILES.openShard);
  let checkpoint: OpenShardCheckpoint;
  try {
    checkpoint = JSON.parse(await readFile(file, 'utf8')) as OpenShardCheckpoint;
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    await unlink(file);
    return undefined;
  }
  const name = shardName(committedShards);
  const path = join(dir, `${name}.tmp`);
  const size = await stat(path).then(
    (info) => info.size,
    () => -1,
  );
  const usable =
    checkpoint.shard === name &&
    Number.isSafeInteger(checkpoint.bytes) &&
    size >= checkpoint.bytes &&
    Array.isArray(checkpoint.entries) &&
    checkpoint.entries.length > 0 &&
    (await keysInShard(path, checkpoint.bytes)).join('\n') === checkpoint.entries.map((entry) => entry.key).join('\n');
  if (!usable) {
    await unlink(file);
    return undefined;
  }
  return { index: committedShards, file: await TarShardFile.resume(path, checkpoint.bytes), entries: checkpoint.entries };
}

/** Sample keys (one `.cls` member each) in the first `bytes` bytes of a shard the writer wrote. */
async function keysInShard(file: string, bytes: number): Promise<string[]> {
  const keys: string[] = [];
  for await (const item of readTarMembers(file)) {
    if (item.kind === 'cut' || item.member.end > bytes) break;
    if (item.member.name.endsWith('.cls')) keys.push(item.member.name.slice(0, -'.cls'.length));
  }
  return keys;
}

/**
 * What a crashed writer left committed. Shards are committed in order and the manifest is appended
 * only after a shard's rename, so only the last shard can be half-committed: a manifest that ends
 * mid-line or lists fewer samples than the last shard holds. That shard and its lines are dropped
 * (its samples were never reported as written), as are shard files the manifest does not list.
 */
async function recoverCommitted(dir: string, remember: (entry: ManifestEntry) => void): Promise<CommittedShard[]> {
  const manifestFile = join(dir, SHIFT_FILES.manifest);
  const groups: Array<{ name: string; samples: number; start: number }> = [];
  // Entries of the last shard wait until that shard is verified; earlier ones are remembered at once.
  let lastEntries: ManifestEntry[] = [];
  let validEnd = 0;
  for await (const line of readManifestLines(manifestFile)) {
    const last = groups[groups.length - 1];
    if (last === undefined || last.name !== line.entry.shard) {
      if (shardIndex(line.entry.shard) !== groups.length) {
        throw new DatasetError('SHIFT_CORRUPT', `manifest lists shard ${line.entry.shard} where ${shardName(groups.length)} was expected`, { file: manifestFile });
      }
      lastEntries.forEach(remember);
      lastEntries = [];
      groups.push({ name: line.entry.shard, samples: 0, start: line.start });
    }
    const group = groups[groups.length - 1];
    if (group !== undefined) group.samples++;
    lastEntries.push(line.entry);
    validEnd = line.end;
  }
  const last = groups[groups.length - 1];
  if (last !== undefined && (await samplesInShard(join(dir, last.name))) !== last.samples) {
    groups.pop();
    validEnd = last.start;
  } else {
    lastEntries.forEach(remember);
  }
  const manifestSize = await stat(manifestFile).then(
    (info) => info.size,
    () => 0,
  );
  if (manifestSize > validEnd) await truncate(manifestFile, validEnd);

  const shards: CommittedShard[] = [];
  for (const group of groups) {
    const info = await stat(join(dir, group.name)).catch(() => undefined);
    if (info === undefined) {
      throw new DatasetError('SHIFT_CORRUPT', `committed shard ${group.name} is missing; the shift cannot be repaired`, { file: dir });
    }
    shards.push({ name: group.name, samples: group.samples, bytes: info.size });
  }
  for (const name of await readdir(dir)) {
    const index = shardIndex(name);
    if (index !== undefined && index >= groups.length) await unlink(join(dir, name));
  }
  await syncDirectory(dir);
  return shards;
}

/** Samples in a shard the writer wrote (one `.cls` member each); -1 when it is missing or cut short. */
async function samplesInShard(file: string): Promise<number> {
  let count = 0;
  for await (const item of readTarMembers(file)) {
    if (item.kind === 'cut') return -1;
    if (item.member.name.endsWith('.cls')) count++;
  }
  return count;
}
