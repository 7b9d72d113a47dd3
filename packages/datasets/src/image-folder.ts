import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { DatasetError, describeCause } from './errors.js';
import { sniffImageFormat, type EncodedImage, type PoolSampleBase } from './image-decode.js';
import { errorRecord, sampleRecord, validateCursor, type PoolRecord, type ReadOptions } from './pool-record.js';

export interface ImageFolderOptions extends ReadOptions {
  /** Folder holding one sub-folder per class, named by wnid (`train/n01440764/x.JPEG`). */
  readonly root: string;
  /**
   * The label space: wnids in class-index order. When given, each sample gets its class index and a
   * folder outside it yields one UNKNOWN_CLASS record and is skipped.
   * @default undefined
   */
  readonly classes?: readonly string[];
  /** File extensions read as images, case-insensitive. @default ['.jpg', '.jpeg', '.png', '.webp'] */
  readonly extensions?: readonly string[];
}

export interface ImageFolderSample extends PoolSampleBase {
  /** `<wnid>/<file>`, relative to the root. */
  readonly sourceId: string;
  readonly wnid: string;
  /** Index of the wnid in `classes`; undefined when no label space was given. */
  readonly classIndex: number | undefined;
  readonly image: EncodedImage;
}

const DEFAULT_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp'];

/**
 * Streams an ImageFolder tree (`<root>/<wnid>/<file>`), label from the folder name.
 *
 * Cursor: `shard` is the class folder's position in name order, `offset` the file's position in name
 * order inside it. Files that cannot be read yield FILE_UNREADABLE records; files with other extensions
 * and nested folders are not part of the pool.
 */
export async function* readImageFolder(options: ImageFolderOptions): AsyncGenerator<PoolRecord<ImageFolderSample>> {
  const extensions = new Set((options.extensions ?? DEFAULT_EXTENSIONS).map((extension) => extension.toLowerCase()));
  const indexOfWnid = options.classes === undefined ? undefined : new Map(options.classes.map((wnid, index) => [wnid, index]));
  let folders: string[];
  try {
    folders = (await readdir(options.root, { withFileTypes: true }))
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort(byCodePoint);
  } catch (cause) {
    throw new DatasetError('FILE_UNREADABLE', `cannot list the image folder: ${describeCause(cause)}`, { file: options.root, cause });
  }
  const from = validateCursor(options.resumeFrom, folders.length);
  for (let index = from.shard; index < folders.length; index++) {
    const wnid = folders[index] ?? '';
    const folder = join(options.root, wnid);
    const nextFolder = { shard: index + 1, offset: 0 };
    const classIndex = indexOfWnid?.get(wnid);
    options.signal?.throwIfAborted();
    if (indexOfWnid !== undefined && classIndex === undefined) {
      yield errorRecord(new DatasetError('UNKNOWN_CLASS', `folder ${wnid} is not a class of the label space; skipped`, { file: folder }), nextFolder);
      continue;
    }
    let files: string[];
    try {
      files = (await readdir(folder, { withFileTypes: true }))
        .filter((entry) => !entry.isDirectory() && extensions.has(extname(entry.name).toLowerCase()))
        .map((entry) => entry.name)
        .sort(byCodePoint);
    } catch (cause) {
      yield errorRecord(new DatasetError('FILE_UNREADABLE', `cannot list class folder: ${describeCause(cause)}`, { file: folder, cause }), nextFolder);
      continue;
    }
    for (let position = index === from.shard ? from.offset : 0; position < files.length; position++) {
      const name = files[position] ?? '';
      const file = join(folder, name);
      const cursor = position + 1 < files.length ? { shard: index, offset: position + 1 } : nextFolder;
      options.signal?.throwIfAborted();
      try {
        const bytes = await readFile(file);
        yield sampleRecord({ sourceId: `${wnid}/${name}`, file, wnid, classIndex, image: { bytes, format: sniffImageFormat(bytes) } }, cursor);
      } catch (cause) {
        yield errorRecord(new DatasetError('FILE_UNREADABLE', `cannot read image: ${describeCause(cause)}`, { file, key: `${wnid}/${name}`, cause }), cursor);
      }
    }
  }
}

/** Locale-independent order, so cursors mean the same on every machine. */
export function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
