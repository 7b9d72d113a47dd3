import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readCsvRecords } from './csv-reader.js';
import { DatasetError, describeCause } from './errors.js';
import { sniffImageFormat, type EncodedImage, type PoolSampleBase } from './image-decode.js';
import { errorRecord, sampleRecord, validateCursor, type Cursor, type PoolRecord, type ReadOptions } from './pool-record.js';

export interface OpenImagesOptions extends ReadOptions {
  /** Image-level labels CSV with a header naming ImageID, LabelName, Confidence (and optionally Source). */
  readonly labelsCsv: string;
  /** MID -> display name CSV (`/m/0199g,Bicycle`), with or without a `LabelName,DisplayName` header. */
  readonly classDescriptionsCsv: string;
  /** Folder holding `<ImageID><imageExtension>`. */
  readonly imagesDir: string;
  /** @default '.jpg' */
  readonly imageExtension?: string;
  /**
   * Labels with a lower Confidence are dropped. OpenImages marks human-verified absent labels with
   * Confidence 0, so the default keeps only positive labels; pass 0 to keep every row.
   * @default 0.5
   */
  readonly minConfidence?: number;
}

export interface OpenImagesLabel {
  /** Freebase machine id, e.g. `/m/0199g`. */
  readonly mid: string;
  /** From the class-descriptions CSV; undefined for a MID it does not list. */
  readonly name: string | undefined;
  readonly confidence: number;
  /** `verification`, `crowdsource-verification`, `machine`, … when the CSV has a Source column. */
  readonly source: string | undefined;
}

export interface OpenImagesSample extends PoolSampleBase {
  readonly imageId: string;
  readonly labels: readonly OpenImagesLabel[];
  readonly image: EncodedImage;
}

/** Reads a MID -> display name table (tens of thousands of rows at most, so it is held in memory). */
export async function loadClassDescriptions(file: string): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  for await (const { fields } of readCsvRecords(file)) {
    const [mid, name] = fields;
    if (mid === undefined || name === undefined || mid === 'LabelName') continue;
    names.set(mid, name);
  }
  return names;
}

/**
 * Streams an OpenImages-style labelled pool: one sample per image, carrying all its image-level labels
 * (consecutive CSV rows with the same ImageID, which is how OpenImages ships the file, sorted by id).
 *
 * Cursor: `shard` is always 0, `offset` is the byte offset in the labels CSV of the next image's first
 * row. A missing image file yields MISSING_IMAGE naming the image id and path; a malformed row yields
 * INVALID_METADATA; a labels CSV whose header lacks a needed column yields one MISSING_COLUMNS record.
 */
export async function* readOpenImagesPool(options: OpenImagesOptions): AsyncGenerator<PoolRecord<OpenImagesSample>> {
  const file = options.labelsCsv;
  const extension = options.imageExtension ?? '.jpg';
  const minConfidence = options.minConfidence ?? 0.5;
  const from = validateCursor(options.resumeFrom, 1);
  if (from.shard >= 1) return;
  const end: Cursor = { shard: 1, offset: 0 };
  const names = await loadClassDescriptions(options.classDescriptionsCsv);

  const header = await readHeader(file);
  const columns = {
    imageId: header.fields.indexOf('ImageID'),
    mid: header.fields.indexOf('LabelName'),
    confidence: header.fields.indexOf('Confidence'),
    source: header.fields.indexOf('Source'),
  };
  const missing = (['ImageID', 'LabelName', 'Confidence'] as const).filter((_, i) => [columns.imageId, columns.mid, columns.confidence][i] === -1);
  if (missing.length > 0) {
    yield errorRecord(new DatasetError('MISSING_COLUMNS', `labels CSV lacks column(s) ${missing.join(', ')}; its header is ${header.fields.join(',')}`, { file }), end);
    return;
  }

  let current: { imageId: string; labels: OpenImagesLabel[]; malformed: string | undefined } | undefined;
  let previousId = '';
  const finish = async (next: Cursor): Promise<PoolRecord<OpenImagesSample>> => {
    const { imageId, labels, malformed } = current ?? { imageId: '', labels: [], malformed: undefined };
    current = undefined;
    if (malformed !== undefined) return errorRecord(new DatasetError('INVALID_METADATA', `${malformed}; image skipped`, { file, key: imageId }), next);
    const path = join(options.imagesDir, `${imageId}${extension}`);
    try {
      const bytes = await readFile(path);
      return sampleRecord({ sourceId: imageId, file: path, imageId, labels, image: { bytes, format: sniffImageFormat(bytes) } }, next);
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'MISSING_IMAGE' : 'FILE_UNREADABLE';
      return errorRecord(new DatasetError(code, `image of ${imageId} cannot be read: ${describeCause(cause)}`, { file: path, key: imageId, cause }), next);
    }
  };

  for await (const record of readCsvRecords(file, Math.max(from.offset, header.end))) {
    const imageId = record.fields[columns.imageId] ?? '';
    if (current !== undefined && imageId !== current.imageId) {
      options.signal?.throwIfAborted();
      yield await finish({ shard: 0, offset: record.start });
    }
    if (imageId === '') {
      // A row without an image id belongs to no sample: report it on its own, between samples.
      yield errorRecord(new DatasetError('INVALID_METADATA', `label row at byte ${record.start} has no ImageID`, { file }), { shard: 0, offset: record.end });
      continue;
    }
    if (current === undefined) {
      if (imageId < previousId) {
        // Not fatal, but the image will come out as two samples; say so instead of hiding it.
        yield errorRecord(
          new DatasetError('INVALID_METADATA', `labels CSV is not sorted by ImageID (${imageId} after ${previousId}); this image may appear twice`, { file, key: imageId }),
          { shard: 0, offset: record.start },
        );
      }
      current = { imageId, labels: [], malformed: undefined };
      previousId = imageId;
    }
    const mid = record.fields[columns.mid] ?? '';
    const confidenceText = (record.fields[columns.confidence] ?? '').trim();
    const confidence = Number(confidenceText);
    if (mid === '' || confidenceText === '' || !Number.isFinite(confidence)) {
      current.malformed ??= `malformed label row at byte ${record.start}: ${record.fields.join(',')}`;
      continue;
    }
    if (confidence >= minConfidence) {
      const source = columns.source === -1 ? undefined : record.fields[columns.source];
      current.labels.push({ mid, name: names.get(mid), confidence, source });
    }
  }
  if (current !== undefined) {
    options.signal?.throwIfAborted();
    yield await finish(end);
  }
}

async function readHeader(file: string): Promise<{ fields: string[]; end: number }> {
  for await (const record of readCsvRecords(file)) return { fields: record.fields.map((field) => field.trim()), end: record.end };
  return { fields: [], end: 0 };
}
