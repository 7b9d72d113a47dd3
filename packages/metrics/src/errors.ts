// Every error @select/metrics throws. Each carries the underlying failure as `cause`, so callers can
// log the chain while branching on the class: an outage is retried, a bad statement is not.

/** A value cannot be written into SQL text (lone UTF-16 surrogate, invalid date, bad identifier, ...). */
export class SqlValueError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SqlValueError';
  }
}

/**
 * ClickHouse could not be reached or answered with a transient failure (connection refused or reset,
 * timeout, too many parts, memory limit). Retrying later may succeed.
 */
export class ClickHouseUnavailableError extends Error {
  /** ClickHouse error code when the server answered, undefined for network failures. */
  readonly code: number | undefined;
  constructor(message: string, options: { cause?: unknown; code?: number }) {
    super(message, { cause: options.cause });
    this.name = 'ClickHouseUnavailableError';
    this.code = options.code;
  }
}

/** ClickHouse rejected the statement (syntax, unknown table or column, type mismatch). Retrying will not help. */
export class ClickHouseQueryError extends Error {
  /** ClickHouse error code (e.g. 60 UNKNOWN_TABLE, 62 SYNTAX_ERROR); undefined if the server sent none. */
  readonly code: number | undefined;
  constructor(message: string, options: { cause?: unknown; code?: number }) {
    super(message, { cause: options.cause });
    this.name = 'ClickHouseQueryError';
    this.code = options.code;
  }
}

/** A statement given to the read-only query path would change data, schema or settings. */
export class ReadOnlyQueryError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ReadOnlyQueryError';
  }
}

/** A migration failed, or an applied migration's SQL changed since it was applied. */
export class MigrationError extends Error {
  readonly migrationId: string;
  constructor(migrationId: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MigrationError';
    this.migrationId = migrationId;
  }
}

/** A row handed to the batched writer lacks one of the writer's columns or holds a value JSON cannot carry. */
export class InvalidRowError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InvalidRowError';
  }
}

/**
 * The batched writer stopped retrying an insert (the failure was permanent, or ClickHouse stayed unavailable
 * for longer than `maxElapsedMs`). The rows were NOT dropped: they stay buffered and the next flush tries again.
 */
export class WriterGaveUpError extends Error {
  /** Rows still buffered in the writer when it gave up. */
  readonly bufferedRows: number;
  /** For a rejected `write()`/`writeMany()` call: how many of its rows were buffered before it gave up. */
  readonly acceptedRows: number;
  constructor(message: string, options: { cause?: unknown; bufferedRows: number; acceptedRows?: number }) {
    super(message, { cause: options.cause });
    this.name = 'WriterGaveUpError';
    this.bufferedRows = options.bufferedRows;
    this.acceptedRows = options.acceptedRows ?? 0;
  }
}

/** `write()` was called after `close()`. */
export class WriterClosedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WriterClosedError';
  }
}

/** A connection option (from code or environment) is invalid. */
export class ClickHouseConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ClickHouseConfigError';
  }
}
