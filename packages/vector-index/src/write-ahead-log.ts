import { open, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { crc32 } from 'node:zlib';
import { CorruptIndexError } from './errors.js';
import type { Metadata } from './metadata-store.js';
import type { AddBatch } from './vector-index.js';

/**
 * Append-only log of the adds and removes made since the last snapshot.
 *
 * File: the 8-byte magic, then records. Record: u32 payload length, u32 CRC-32 of the payload,
 * u32 CRC-32 of those 8 header bytes, then the payload (little-endian throughout). An append is one
 * write followed (when the caller asks) by fsync, so only the last append can be torn by a crash.
 *
 * Reading tells a torn tail from corruption: when a record fails its checks, the rest of the file is
 * searched for any intact record. None → the bad bytes are the remains of the last, never acknowledged
 * append: they are cut off with a warning. One → data in the middle of the log is damaged, and the
 * log is refused (CorruptIndexError), since replaying around it would silently lose acknowledged writes.
 */

const MAGIC = Buffer.from('SVIWAL01', 'ascii');
const HEADER_BYTES = 12;
const MAX_PAYLOAD_BYTES = 1 << 30;
const ADD = 1;
const REMOVE = 2;

if (endianness() !== 'LE') throw new Error('@select/vector-index stores little-endian floats and needs a little-endian CPU');

export type LogRecord = { type: 'add'; batch: AddBatch } | { type: 'remove'; ids: readonly string[] };

export interface ReplayResult {
  records: number;
  /** Bytes of a torn last append that were cut off (0 when the log was clean). */
  tornBytes: number;
}

function header(payload: Buffer): Buffer {
  const head = Buffer.alloc(HEADER_BYTES);
  head.writeUInt32LE(payload.length, 0);
  head.writeUInt32LE(crc32(payload), 4);
  head.writeUInt32LE(crc32(head.subarray(0, 8)), 8);
  return head;
}

function encodeAdd(batch: AddBatch, dimension: number): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(9);
  head.writeUInt8(ADD, 0);
  head.writeUInt32LE(dimension, 1);
  head.writeUInt32LE(batch.keys.length, 5);
  parts.push(head);
  batch.keys.forEach((key, i) => {
    const id = Buffer.from(batch.ids[i]!, 'utf8');
    const meta = batch.metadata[i] ? Buffer.from(JSON.stringify(batch.metadata[i]), 'utf8') : Buffer.alloc(0);
    const fixed = Buffer.alloc(14);
    fixed.writeDoubleLE(key, 0);
    fixed.writeUInt16LE(id.length, 8);
    fixed.writeUInt32LE(meta.length, 10);
    parts.push(fixed, id, meta);
  });
  parts.push(Buffer.from(batch.vectors.buffer, batch.vectors.byteOffset, batch.vectors.byteLength));
  return Buffer.concat(parts);
}

function encodeRemove(ids: readonly string[]): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(5);
  head.writeUInt8(REMOVE, 0);
  head.writeUInt32LE(ids.length, 1);
  parts.push(head);
  for (const id of ids) {
    const bytes = Buffer.from(id, 'utf8');
    const len = Buffer.alloc(2);
    len.writeUInt16LE(bytes.length, 0);
    parts.push(len, bytes);
  }
  return Buffer.concat(parts);
}

function decode(payload: Buffer, dimension: number): LogRecord {
  let at = 0;
  const need = (n: number) => {
    if (at + n > payload.length) throw new Error('record ends early');
  };
  need(1);
  const type = payload.readUInt8(at++);
  if (type === ADD) {
    need(8);
    const dim = payload.readUInt32LE(at);
    const count = payload.readUInt32LE(at + 4);
    at += 8;
    if (dim !== dimension) throw new Error(`record has dimension ${dim}, the index ${dimension}`);
    const keys: number[] = [];
    const ids: string[] = [];
    const metadata: (Metadata | undefined)[] = [];
    for (let i = 0; i < count; i++) {
      need(14);
      keys.push(payload.readDoubleLE(at));
      const idLen = payload.readUInt16LE(at + 8);
      const metaLen = payload.readUInt32LE(at + 10);
      at += 14;
      need(idLen + metaLen);
      ids.push(payload.toString('utf8', at, at + idLen));
      at += idLen;
      metadata.push(metaLen > 0 ? (JSON.parse(payload.toString('utf8', at, at + metaLen)) as Metadata) : undefined);
      at += metaLen;
    }
    need(count * dim * 4);
    const vectors = new Float32Array(count * dim);
    Buffer.from(vectors.buffer).set(payload.subarray(at, at + count * dim * 4));
    at += count * dim * 4;
    if (at !== payload.length) throw new Error('record has trailing bytes');
    return { type: 'add', batch: { keys, ids, metadata, vectors } };
  }
  if (type === REMOVE) {
    need(4);
    const count = payload.readUInt32LE(at);
    at += 4;
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      need(2);
      const len = payload.readUInt16LE(at);
      at += 2;
      need(len);
      ids.push(payload.toString('utf8', at, at + len));
      at += len;
    }
    if (at !== payload.length) throw new Error('record has trailing bytes');
    return { type: 'remove', ids };
  }
  throw new Error(`unknown record type ${type}`);
}

/** An intact record at `offset`: its payload, or undefined. */
async function readRecordAt(file: FileHandle, offset: number, size: number): Promise<Buffer | undefined> {
  if (size - offset < HEADER_BYTES) return undefined;
  const head = Buffer.alloc(HEADER_BYTES);
  await file.read(head, 0, HEADER_BYTES, offset);
  if (crc32(head.subarray(0, 8)) !== head.readUInt32LE(8)) return undefined;
  const length = head.readUInt32LE(0);
  if (length > MAX_PAYLOAD_BYTES || offset + HEADER_BYTES + length > size) return undefined;
  const payload = Buffer.alloc(length);
  await file.read(payload, 0, length, offset + HEADER_BYTES);
  return crc32(payload) === head.readUInt32LE(4) ? payload : undefined;
}

/** Whether any intact record starts after `offset` (header checksums make false hits very unlikely). */
async function intactRecordAfter(file: FileHandle, offset: number, size: number): Promise<number | undefined> {
  const window = Buffer.alloc(1 << 20);
  for (let start = offset + 1; start + HEADER_BYTES <= size; start += window.length - HEADER_BYTES) {
    const { bytesRead } = await file.read(window, 0, Math.min(window.length, size - start), start);
    for (let i = 0; i + HEADER_BYTES <= bytesRead; i++) {
      if (crc32(window.subarray(i, i + 8)) !== window.readUInt32LE(i + 8)) continue;
      if (await readRecordAt(file, start + i, size)) return start + i;
    }
    if (bytesRead < window.length) break;
  }
  return undefined;
}

export class WriteAheadLog {
  private constructor(
    private readonly file: FileHandle,
    readonly path: string,
    private readonly dimension: number,
    private size: number,
    private count: number,
  ) {}

  /** Creates an empty log (fsynced); the caller syncs the directory. */
  static async create(path: string, dimension: number): Promise<WriteAheadLog> {
    const file = await open(path, 'wx');
    await file.write(MAGIC, 0, MAGIC.length, 0);
    await file.sync();
    return new WriteAheadLog(file, path, dimension, MAGIC.length, 0);
  }

  /**
   * Opens a log and hands every record to `apply` in order. A torn last append is cut off (reported in
   * the result and to `warn`); any other damage throws CorruptIndexError before a record past it is applied.
   */
  static async open(
    path: string,
    dimension: number,
    apply: (record: LogRecord) => Promise<void>,
    warn: (message: string, facts: Record<string, unknown>) => void,
  ): Promise<{ log: WriteAheadLog; replay: ReplayResult }> {
    const file = await open(path, 'r+');
    try {
      const size = (await file.stat()).size;
      const magic = Buffer.alloc(MAGIC.length);
      await file.read(magic, 0, MAGIC.length, 0);
      if (size < MAGIC.length || !magic.equals(MAGIC)) {
        throw new CorruptIndexError(path, 'not a write-ahead log of this index (bad magic)', { offset: 0 });
      }
      let offset = MAGIC.length;
      let records = 0;
      let tornBytes = 0;
      while (offset < size) {
        const payload = await readRecordAt(file, offset, size);
        if (!payload) {
          const next = await intactRecordAfter(file, offset, size);
          if (next !== undefined) {
            throw new CorruptIndexError(
              path,
              `record ${records + 1} at byte ${offset} is damaged and intact records follow it (at byte ${next}); ` +
                'refusing to replay around it',
              { offset },
            );
          }
          tornBytes = size - offset;
          warn('cut off a torn last record of the write-ahead log (it was never acknowledged)', {
            file: path,
            offset,
            bytes: tornBytes,
          });
          await file.truncate(offset);
          await file.sync();
          break;
        }
        let record: LogRecord;
        try {
          record = decode(payload, dimension);
        } catch (cause) {
          throw new CorruptIndexError(path, `record ${records + 1} at byte ${offset} cannot be decoded`, { offset, cause });
        }
        await apply(record);
        records++;
        offset += HEADER_BYTES + payload.length;
      }
      return { log: new WriteAheadLog(file, path, dimension, offset, records), replay: { records, tornBytes } };
    } catch (error) {
      await file.close();
      throw error;
    }
  }

  /** Records appended since the log was created (replayed ones included). */
  get entries(): number {
    return this.count;
  }

  get bytes(): number {
    return this.size;
  }

  /** Appends one record; with `sync` (the default) it is on disk when the promise resolves. */
  async append(record: LogRecord, sync = true): Promise<void> {
    const payload = record.type === 'add' ? encodeAdd(record.batch, this.dimension) : encodeRemove(record.ids);
    const bytes = Buffer.concat([header(payload), payload]);
    let written = 0;
    while (written < bytes.length) {
      const { bytesWritten } = await this.file.write(bytes, written, bytes.length - written, this.size + written);
      written += bytesWritten;
    }
    this.size += bytes.length;
    this.count++;
    if (sync) await this.file.sync();
  }

  /** fsync: everything appended so far survives a crash. */
  async sync(): Promise<void> {
    await this.file.sync();
  }

  async close(): Promise<void> {
    await this.file.close();
  }
}
