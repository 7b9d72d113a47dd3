import { open, type FileHandle } from 'node:fs/promises';
import { BLOCK, encodeFileHeader, memberBytes, paddedSize } from './tar-format.js';

const PADDING = Buffer.alloc(BLOCK);
const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

/** Bytes a sample with these member sizes adds to a shard. */
export function sampleBytes(sizes: readonly number[]): number {
  return sizes.reduce((sum, size) => sum + memberBytes(size), 0);
}

/** Bytes a finished shard has on top of its members. */
export const SHARD_TRAILER_BYTES = END_OF_ARCHIVE.length;

/**
 * A tar file written member by member. Owner and times are fixed (mtime 0), so the same members in
 * the same order give a byte-identical shard.
 */
export class TarShardFile {
  private written = 0;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
  ) {}

  static async create(path: string): Promise<TarShardFile> {
    return new TarShardFile(path, await open(path, 'w'));
  }

  /**
   * Reopens a shard that {@link pause} left, to append after its first `bytes` bytes; anything past
   * them (members a crashed writer appended after the pause) is cut off.
   */
  static async resume(path: string, bytes: number): Promise<TarShardFile> {
    const handle = await open(path, 'r+');
    try {
      await handle.truncate(bytes);
    } catch (error) {
      await handle.close();
      throw error;
    }
    const file = new TarShardFile(path, handle);
    file.written = bytes;
    return file;
  }

  /** Bytes written so far, end-of-archive blocks not included. */
  get bytes(): number {
    return this.written;
  }

  /** Writes the members of one sample with a single writev. */
  async append(members: ReadonlyArray<readonly [name: string, data: Buffer]>): Promise<void> {
    const buffers: Buffer[] = [];
    for (const [name, data] of members) {
      buffers.push(encodeFileHeader(name, data.length, 0), data);
      const padding = paddedSize(data.length) - data.length;
      if (padding > 0) buffers.push(PADDING.subarray(0, padding));
    }
    const total = buffers.reduce((sum, buffer) => sum + buffer.length, 0);
    let done = 0;
    while (done < total) {
      const { bytesWritten } = await this.handle.writev(sliceBuffers(buffers, done), this.written + done);
      done += bytesWritten;
    }
    this.written += total;
  }

  /** Writes the end-of-archive blocks, syncs and closes; returns the file size. */
  async finish(): Promise<number> {
    await this.handle.write(END_OF_ARCHIVE, 0, END_OF_ARCHIVE.length, this.written);
    await this.handle.sync();
    await this.handle.close();
    return this.written + END_OF_ARCHIVE.length;
  }

  /** Syncs and closes without the end-of-archive blocks, so {@link resume} can append later; returns the bytes written. */
  async pause(): Promise<number> {
    await this.handle.sync();
    await this.handle.close();
    return this.written;
  }

  /** Closes without syncing, for a shard that will be thrown away. */
  async abandon(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}

/** The buffers from byte `skip` on, for resuming a short writev. */
function sliceBuffers(buffers: readonly Buffer[], skip: number): Buffer[] {
  if (skip === 0) return [...buffers];
  const out: Buffer[] = [];
  let remaining = skip;
  for (const buffer of buffers) {
    if (remaining >= buffer.length) {
      remaining -= buffer.length;
      continue;
    }
    out.push(remaining > 0 ? buffer.subarray(remaining) : buffer);
    remaining = 0;
  }
  return out;
}
