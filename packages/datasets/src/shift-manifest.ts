import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { DatasetError, describeCause } from './errors.js';

/** File names inside a shift directory. */
export const SHIFT_FILES = {
  manifest: 'manifest.jsonl',
  summary: 'shift.json',
  classCounts: 'class_counts.json',
  /** timm's wds reader looks for this to know split sizes and shard lists (`--train-split train`). */
  timmInfo: '_info.json',
  lock: '.writer.lock',
  /** Written by ShiftWriter.suspend(): the samples of the shard left open under its temporary name. */
  openShard: 'open-shard.json',
} as const;

/** One line of manifest.jsonl: one sample of the shift. Field names are snake_case, as on disk. */
export interface ManifestEntry {
  readonly id: string;
  readonly key: string;
  /** Shard file name, e.g. `00003.tar`. */
  readonly shard: string;
  readonly class_index: number;
  readonly wnid: string;
  readonly source_id: string;
  readonly score?: number;
  readonly seed?: number;
}

/** A manifest line as read, with its byte range so recovery can cut the file back to a line boundary. */
export interface ManifestLine {
  readonly entry: ManifestEntry;
  readonly start: number;
  readonly end: number;
}

const CHUNK = 1024 * 1024;

/** Streams manifest lines. A last line without its newline (a crash mid-append) is not returned. */
export async function* readManifestLines(file: string): AsyncGenerator<ManifestLine> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new DatasetError('FILE_UNREADABLE', `cannot open manifest: ${describeCause(cause)}`, { file, cause });
  }
  try {
    let pending = Buffer.alloc(0);
    let pendingStart = 0;
    let position = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(CHUNK);
      const { bytesRead } = await handle.read(chunk, 0, CHUNK, position);
      if (bytesRead === 0) return;
      position += bytesRead;
      const buffer = pending.length === 0 ? chunk.subarray(0, bytesRead) : Buffer.concat([pending, chunk.subarray(0, bytesRead)]);
      let lineStart = 0;
      for (let newline = buffer.indexOf(0x0a); newline >= 0; newline = buffer.indexOf(0x0a, lineStart)) {
        const text = buffer.toString('utf8', lineStart, newline);
        const start = pendingStart + lineStart;
        lineStart = newline + 1;
        if (text.trim() === '') continue;
        let entry: ManifestEntry;
        try {
          entry = JSON.parse(text) as ManifestEntry;
        } catch (cause) {
          throw new DatasetError('SHIFT_CORRUPT', `manifest line at byte ${start} is not JSON: ${describeCause(cause)}`, { file, cause });
        }
        yield { entry, start, end: pendingStart + lineStart };
      }
      pending = Buffer.from(buffer.subarray(lineStart));
      pendingStart += lineStart;
    }
  } finally {
    await handle.close();
  }
}

/** Every sample of a written shift, in shard order. */
export async function* readShiftManifest(dir: string): AsyncGenerator<ManifestEntry> {
  for await (const line of readManifestLines(join(dir, SHIFT_FILES.manifest))) yield line.entry;
}

export function shardName(index: number): string {
  return `${String(index).padStart(5, '0')}.tar`;
}

/** The index of a shard file name (`00012.tar` -> 12), or undefined for other names. */
export function shardIndex(name: string): number | undefined {
  const digits = /^(\d{5,})\.tar$/.exec(name)?.[1];
  return digits === undefined ? undefined : Number(digits);
}
