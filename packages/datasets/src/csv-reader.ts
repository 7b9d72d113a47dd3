import { open, type FileHandle } from 'node:fs/promises';
import { DatasetError, describeCause } from './errors.js';

/** One CSV record and where it sits in the file. */
export interface CsvRecord {
  readonly fields: string[];
  /** Byte offset of the record's first byte; pass it as `start` to read again from this record. */
  readonly start: number;
  /** Byte offset just past the record's line break. */
  readonly end: number;
}

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;
const COMMA = 0x2c;
const CHUNK = 1024 * 1024;

/**
 * Streams RFC 4180 records (quoted fields may hold commas, doubled quotes and line breaks) with byte
 * offsets, so a reader can resume at a record without re-reading the file before it. Memory is one
 * chunk plus the longest record. Blank lines are skipped.
 */
export async function* readCsvRecords(file: string, start = 0): AsyncGenerator<CsvRecord> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (cause) {
    throw new DatasetError('FILE_UNREADABLE', `cannot open CSV: ${describeCause(cause)}`, { file, cause });
  }
  try {
    let pending = Buffer.alloc(0);
    let pendingStart = start;
    let scanned = 0;
    let inQuotes = false;
    let position = start;
    for (;;) {
      const chunk = Buffer.allocUnsafe(CHUNK);
      const { bytesRead } = await handle.read(chunk, 0, CHUNK, position);
      position += bytesRead;
      const eof = bytesRead === 0;
      const buffer = pending.length === 0 ? chunk.subarray(0, bytesRead) : Buffer.concat([pending, chunk.subarray(0, bytesRead)]);
      let recordStart = 0;
      for (let i = scanned; i < buffer.length; i++) {
        const byte = buffer[i];
        if (byte === QUOTE) inQuotes = !inQuotes;
        else if (byte === LF && !inQuotes) {
          const record = buffer.subarray(recordStart, i);
          if (!isBlank(record)) yield { fields: parseFields(record), start: pendingStart + recordStart, end: pendingStart + i + 1 };
          recordStart = i + 1;
        }
      }
      if (eof) {
        const record = buffer.subarray(recordStart);
        if (!isBlank(record)) yield { fields: parseFields(record), start: pendingStart + recordStart, end: pendingStart + buffer.length };
        return;
      }
      pending = Buffer.from(buffer.subarray(recordStart));
      pendingStart += recordStart;
      scanned = pending.length;
    }
  } finally {
    await handle.close();
  }
}

function isBlank(record: Buffer): boolean {
  return record.length === 0 || (record.length === 1 && record[0] === CR);
}

function parseFields(record: Buffer): string[] {
  const end = record[record.length - 1] === CR ? record.length - 1 : record.length;
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (record[i] === QUOTE) {
      const parts: Buffer[] = [];
      let from = i + 1;
      let j = from;
      for (; j < end; j++) {
        if (record[j] !== QUOTE) continue;
        if (record[j + 1] === QUOTE) {
          parts.push(record.subarray(from, j + 1));
          j++;
          from = j + 1;
        } else break;
      }
      parts.push(record.subarray(from, Math.min(j, end)));
      fields.push(Buffer.concat(parts).toString('utf8'));
      // Anything between the closing quote and the next comma is kept out, as Python's csv does.
      const comma = record.indexOf(COMMA, j);
      if (comma < 0 || comma >= end) return fields;
      i = comma + 1;
    } else {
      const comma = record.indexOf(COMMA, i);
      if (comma < 0 || comma >= end) {
        fields.push(record.toString('utf8', i, end));
        return fields;
      }
      fields.push(record.toString('utf8', i, comma));
      i = comma + 1;
    }
  }
}
