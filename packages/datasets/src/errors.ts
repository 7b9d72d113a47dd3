/**
 * Why reading or writing a dataset failed. Readers never throw for one bad record: they yield it as a
 * `{ ok: false, error }` record carrying one of the record-level codes and go on. Callers branch on the
 * code; a gRPC handler maps INVALID_* options to INVALID_ARGUMENT, SHIFT_* to FAILED_PRECONDITION and
 * record-level codes to a per-item status.
 */
export type DatasetErrorCode =
  // Record level: yielded in the stream, the reader goes on.
  /** A tar shard ends inside a header or a member's data; the rest of that shard is skipped. */
  | 'SHARD_TRUNCATED'
  /** A tar header fails its checksum or is not a tar header; the rest of that shard is skipped. */
  | 'SHARD_CORRUPT'
  /** A shard, metadata file or image file could not be opened or read. */
  | 'FILE_UNREADABLE'
  /** A sample holds two members with the same extension (webdataset rejects these too). */
  | 'DUPLICATE_MEMBER'
  /** A sample has no image member (jpg, jpeg, png or webp) or its image file is missing. */
  | 'MISSING_IMAGE'
  /** An image-text sample has no caption (`.txt`) member. */
  | 'MISSING_CAPTION'
  /** A caption is not valid UTF-8; the sample is skipped rather than carrying replacement characters. */
  | 'CAPTION_ENCODING'
  /** A labelled sample has neither a `.cls` member nor a class in its `.json`, or it does not parse. */
  | 'MISSING_LABEL'
  /** A class index or wnid that is not in the label space the caller gave. */
  | 'UNKNOWN_CLASS'
  /** An image that the decoder (sharp/libvips) cannot decode. */
  | 'IMAGE_DECODE'
  /** A `.json` member or a metadata row that does not parse. */
  | 'INVALID_METADATA'
  /** A parquet file lacks columns the pool needs; the message names them and the columns it has. */
  | 'MISSING_COLUMNS'
  /** Row-aligned files (parquet metadata and .npy embeddings) disagree on the number of rows. */
  | 'ROW_COUNT_MISMATCH'
  /** A file that claims to be .npy is not one this reader supports (dtype, order, header). */
  | 'NPY_FORMAT'
  /** An SVG whose metadata cannot be parsed or that does not render. */
  | 'SVG_INVALID'
  // Call level: thrown, the caller must fix something.
  /** An option is missing or out of range, or a cursor does not belong to this reader. */
  | 'INVALID_OPTION'
  /** The shift directory belongs to another strategy or parameter set, or is already complete. */
  | 'SHIFT_MISMATCH'
  /** The shift directory is inconsistent in a way a restart cannot repair (a committed shard is gone). */
  | 'SHIFT_CORRUPT'
  /** The shift writer was used after close() or suspend(), or after a failed write. */
  | 'SHIFT_CLOSED';

/** Where a record error happened: the file and, where there is one, the record key inside it. */
export interface ErrorLocation {
  /** Path of the shard, parquet, npy, csv or image file. */
  readonly file?: string;
  /** Sample key, row number or image id inside the file. */
  readonly key?: string;
}

/** The one error type of @select/datasets. */
export class DatasetError extends Error {
  readonly code: DatasetErrorCode;
  readonly file: string | undefined;
  readonly key: string | undefined;

  constructor(code: DatasetErrorCode, message: string, options: ErrorLocation & { cause?: unknown } = {}) {
    super(formatMessage(message, options), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DatasetError';
    this.code = code;
    this.file = options.file;
    this.key = options.key;
  }
}

function formatMessage(message: string, where: ErrorLocation): string {
  if (where.file !== undefined && where.key !== undefined) return `${where.file} [${where.key}]: ${message}`;
  if (where.file !== undefined) return `${where.file}: ${message}`;
  if (where.key !== undefined) return `[${where.key}]: ${message}`;
  return message;
}

/** The message of any thrown value, for wrapping third-party errors. */
export function describeCause(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
