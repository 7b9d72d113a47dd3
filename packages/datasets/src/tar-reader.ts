import { open, type FileHandle } from 'node:fs/promises';
import { DatasetError, describeCause } from './errors.js';
import { BLOCK, paddedSize, parseHeader, parsePax } from './tar-format.js';

/**
 * What a tar read yields: the regular files in order, then, if the shard cannot be read to its end,
 * one `cut` saying why and where (the member that was cut, when its header was readable).
 */
export type TarItem = { kind: 'member'; member: TarMember } | { kind: 'cut'; error: DatasetError; member?: string; start: number };

/** One regular file inside a tar shard. */
export interface TarMember {
  name: string;
  data: Buffer;
  /** Byte offset of the member's first header (its pax or long-name header when it has one). */
  start: number;
  /** Byte offset just past the member's padded data: where the next member starts. */
  end: number;
}

const CHUNK = 4 * 1024 * 1024;

/**
 * Streams the regular files of a tar file from byte `start` (which must be a header boundary), reading
 * in fixed chunks so memory stays at one chunk plus the member being returned, whatever the shard size.
 * A shard that cannot be opened, ends inside a member (SHARD_TRUNCATED) or has a header that fails its
 * checksum (SHARD_CORRUPT) ends with a `cut` item. A shard that ends cleanly between members without
 * the end-of-archive blocks is accepted, as Python's tarfile accepts it.
 */
export async function* readTarMembers(file: string, start = 0): AsyncGenerator<TarItem> {
  if (start % BLOCK !== 0) {
    throw new DatasetError('INVALID_OPTION', `tar offset ${start} is not a multiple of ${BLOCK}`, { file });
  }
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (cause) {
    yield { kind: 'cut', error: new DatasetError('FILE_UNREADABLE', `cannot open shard: ${describeCause(cause)}`, { file, cause }), start };
    return;
  }
  const reader = new ChunkReader(handle, start);
  try {
    const { size: fileSize } = await handle.stat();
    let globalPax = new Map<string, string>();
    let pax: Map<string, string> | undefined;
    let longName: string | undefined;
    let memberStart = start;
    let lastName: string | undefined;
    for (;;) {
      const headerAt = reader.position;
      // A member's chain starts at its first extension header, so a cursor never splits the chain.
      if (pax === undefined && longName === undefined) memberStart = headerAt;
      const block = await reader.read(BLOCK);
      const chained = pax !== undefined || longName !== undefined;
      if (block.length === 0 && !chained) return;
      if (block.length < BLOCK) {
        const error = new DatasetError('SHARD_TRUNCATED', `shard ends inside the tar header at byte ${headerAt}${after(lastName)}`, {
          file,
          ...(lastName === undefined ? {} : { key: lastName }),
        });
        yield { kind: 'cut', error, start: memberStart };
        return;
      }
      const parsed = parseHeader(block);
      if (parsed.kind === 'end') return;
      if (parsed.kind === 'invalid') {
        const error = new DatasetError('SHARD_CORRUPT', `no valid tar header at byte ${headerAt}${after(lastName)}: ${parsed.reason}`, {
          file,
          ...(lastName === undefined ? {} : { key: lastName }),
        });
        yield { kind: 'cut', error, start: memberStart };
        return;
      }
      const { header } = parsed;
      const extended = header.type === 'pax' || header.type === 'pax-global' || header.type.startsWith('gnu-long');
      const size = extended ? header.size : Number(pax?.get('size') ?? globalPax.get('size') ?? header.size);
      const name = longName ?? pax?.get('path') ?? header.name;
      const data = await reader.read(size);
      if (data.length < size) {
        const error = new DatasetError(
          'SHARD_TRUNCATED',
          `shard ends inside member ${name}: it needs ${size} bytes from byte ${headerAt + BLOCK}, the file has ${data.length}`,
          { file, key: name },
        );
        yield { kind: 'cut', error, ...(extended ? {} : { member: name }), start: memberStart };
        return;
      }
      // Copy before the next read reuses the chunk the data was sliced from.
      const kept = header.type === 'file' || extended ? Buffer.from(data) : undefined;
      await reader.skip(paddedSize(size) - size);
      if (reader.position > fileSize) {
        const error = new DatasetError('SHARD_TRUNCATED', `shard ends inside the padding of member ${name} at byte ${fileSize}`, { file, key: name });
        yield { kind: 'cut', error, ...(extended ? {} : { member: name }), start: memberStart };
        return;
      }
      switch (header.type) {
        case 'pax':
          pax = parsePax(kept ?? Buffer.alloc(0));
          continue;
        case 'pax-global':
          globalPax = parsePax(kept ?? Buffer.alloc(0));
          continue;
        case 'gnu-long-name':
          longName = (kept ?? Buffer.alloc(0)).toString('utf8').replace(/\0+$/, '');
          continue;
        case 'gnu-long-link':
          continue;
        default:
          break;
      }
      pax = undefined;
      longName = undefined;
      lastName = name;
      if (header.type === 'file' && kept !== undefined) {
        yield { kind: 'member', member: { name, data: kept, start: memberStart, end: reader.position } };
      }
    }
  } finally {
    await handle.close();
  }
}

function after(name: string | undefined): string {
  return name === undefined ? '' : ` (after member ${name})`;
}

/** Sequential reads over a file handle through one reusable chunk. */
class ChunkReader {
  private readonly chunk = Buffer.allocUnsafe(CHUNK);
  private chunkStart: number;
  private chunkLength = 0;
  private at = 0;

  constructor(
    private readonly handle: FileHandle,
    start: number,
  ) {
    this.chunkStart = start;
  }

  get position(): number {
    return this.chunkStart + this.at;
  }

  /**
   * Up to `length` bytes; fewer only at end of file. The result may be a view of the chunk, valid until
   * the next call.
   */
  async read(length: number): Promise<Buffer> {
    if (this.chunkLength - this.at >= length) {
      const view = this.chunk.subarray(this.at, this.at + length);
      this.at += length;
      return view;
    }
    if (length > CHUNK / 2) return this.readLarge(length);
    await this.refill();
    const available = Math.min(length, this.chunkLength - this.at);
    const view = this.chunk.subarray(this.at, this.at + available);
    this.at += available;
    return view;
  }

  async skip(length: number): Promise<void> {
    const buffered = this.chunkLength - this.at;
    if (length <= buffered) {
      this.at += length;
      return;
    }
    const target = this.position + length;
    this.chunkStart = target;
    this.chunkLength = 0;
    this.at = 0;
  }

  private async readLarge(length: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(length);
    const buffered = this.chunkLength - this.at;
    this.chunk.copy(out, 0, this.at, this.chunkLength);
    let filled = buffered;
    let position = this.position + buffered;
    while (filled < length) {
      const { bytesRead } = await this.handle.read(out, filled, length - filled, position);
      if (bytesRead === 0) break;
      filled += bytesRead;
      position += bytesRead;
    }
    this.chunkStart = position;
    this.chunkLength = 0;
    this.at = 0;
    return filled === length ? out : out.subarray(0, filled);
  }

  /** Moves unread bytes to the front of the chunk and fills the rest from the file. */
  private async refill(): Promise<void> {
    const leftover = this.chunkLength - this.at;
    if (leftover > 0) this.chunk.copy(this.chunk, 0, this.at, this.chunkLength);
    this.chunkStart += this.at;
    this.chunkLength = leftover;
    this.at = 0;
    while (this.chunkLength < CHUNK) {
      const { bytesRead } = await this.handle.read(this.chunk, this.chunkLength, CHUNK - this.chunkLength, this.chunkStart + this.chunkLength);
      if (bytesRead === 0) break;
      this.chunkLength += bytesRead;
    }
  }
}
