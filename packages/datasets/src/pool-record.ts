import { DatasetError } from './errors.js';

/**
 * A resume point. Every record a reader yields carries the cursor that points just past it; pass that
 * cursor as `resumeFrom` and the reader yields exactly the records that came after it.
 * What `shard` and `offset` count depends on the reader (documented on each): for tar shards the
 * shard index and the byte offset of the next sample's first header, for parquet the part index and
 * the row, for folders the folder index and the file index.
 */
export interface Cursor {
  readonly shard: number;
  readonly offset: number;
}

/** A sample read without trouble. */
export interface SampleRecord<S> {
  readonly ok: true;
  readonly sample: S;
  readonly cursor: Cursor;
}

/** A record that could not be read; `error.file` and `error.key` say which. The reader goes on. */
export interface ErrorRecord {
  readonly ok: false;
  readonly error: DatasetError;
  readonly cursor: Cursor;
}

/**
 * What every pool reader yields: bad records travel in the same stream as good ones, in file order,
 * so a consumer can count, log or dead-letter them without the read stopping.
 */
export type PoolRecord<S> = SampleRecord<S> | ErrorRecord;

/** Options every pool reader accepts. */
export interface ReadOptions {
  /** Continue after this cursor (taken from a record this reader yielded earlier). */
  readonly resumeFrom?: Cursor;
  /** Stops the read between records. */
  readonly signal?: AbortSignal;
}

export const START: Cursor = { shard: 0, offset: 0 };

export function sampleRecord<S>(sample: S, cursor: Cursor): SampleRecord<S> {
  return { ok: true, sample, cursor };
}

export function errorRecord(error: DatasetError, cursor: Cursor): ErrorRecord {
  return { ok: false, error, cursor };
}

export function validateCursor(cursor: Cursor | undefined, shardCount: number): Cursor {
  if (cursor === undefined) return START;
  const { shard, offset } = cursor;
  if (!Number.isSafeInteger(shard) || shard < 0 || !Number.isSafeInteger(offset) || offset < 0) {
    throw new DatasetError('INVALID_OPTION', `resumeFrom must hold non-negative integers, got ${JSON.stringify(cursor)}`);
  }
  if (shard > shardCount) {
    throw new DatasetError('INVALID_OPTION', `resumeFrom.shard ${shard} is past the last of ${shardCount} shards`);
  }
  return cursor;
}
