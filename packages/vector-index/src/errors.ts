/**
 * What went wrong, in terms a caller can act on; a service maps each code to one gRPC status
 * (INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION, RESOURCE_EXHAUSTED, DATA_LOSS, INTERNAL).
 */
export type VectorIndexErrorCode =
  /** The request is malformed: wrong dimension, NaN/Inf, empty batch, k out of range, bad name. */
  | 'INVALID_ARGUMENT'
  /** No index of that name. */
  | 'NOT_FOUND'
  /** An index of that name exists already. */
  | 'ALREADY_EXISTS'
  /** The index exists but cannot serve: it failed to load, or it is being dropped. */
  | 'FAILED_PRECONDITION'
  /** A limit was hit (too many queries, results or concurrent calls). */
  | 'RESOURCE_EXHAUSTED'
  /** A file of the index is corrupt or truncated; the index was not loaded. */
  | 'CORRUPT'
  /** The native addon is not built or failed (out of memory, I/O). */
  | 'INTERNAL';

/** The one error type this package throws on purpose. */
export class VectorIndexError extends Error {
  override readonly name: string = 'VectorIndexError';
  readonly code: VectorIndexErrorCode;
  /** Structured facts for the caller (e.g. the offending index name, file or byte offset). */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: VectorIndexErrorCode,
    message: string,
    options: { cause?: unknown; details?: Readonly<Record<string, unknown>> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }
}

/** A file of a persisted index failed its checks; loading stops rather than serve part of the index. */
export class CorruptIndexError extends VectorIndexError {
  override readonly name: string = 'CorruptIndexError';
  /** The file that failed. */
  readonly file: string;

  constructor(file: string, problem: string, options: { cause?: unknown; offset?: number } = {}) {
    super('CORRUPT', `${file}: ${problem}`, {
      cause: options.cause,
      details: options.offset === undefined ? { file } : { file, offset: options.offset },
    });
    this.file = file;
  }
}

export function invalidArgument(message: string, details?: Record<string, unknown>): VectorIndexError {
  return new VectorIndexError('INVALID_ARGUMENT', message, details ? { details } : {});
}
