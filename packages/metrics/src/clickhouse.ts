// The ClickHouse connection every other module uses. It wraps @clickhouse/client so that statements are
// always SqlFragments (values escaped by sql.ts), errors come out as the classes in errors.ts whatever the
// server version, and the client sends nothing that ClickHouse 18.16 or a readonly=1 user rejects.
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { ClickHouseQueryError, ClickHouseUnavailableError, ReadOnlyQueryError } from './errors.js';
import { InsertCoalescer } from './insert-coalescer.js';
import { Readable } from 'node:stream';
import { toJsonEachRow } from './json-each-row.js';
import { addClickHouseDefaults, type ClickHouseOptions } from './options.js';
import { assertReadOnlyStatement } from './read-only-statement.js';
import { compileRowBinary, rowBinarySupports, type ColumnType, type RowBinaryEncoder } from './row-binary.js';
import { sql, sqlIdentifier, type SqlFragment } from './sql.js';

export interface ClickHouse {
  /** The filled options this connection uses. */
  readonly options: ClickHouseOptions;
  /** True when the server answers /ping. Never throws. */
  ping(): Promise<boolean>;
  /** Runs a statement that returns no rows (DDL, INSERT ... SELECT). */
  command(statement: SqlFragment): Promise<void>;
  /**
   * Runs a SELECT and returns its rows. The rows are JSON: (U)Int64 columns arrive as strings, NaN and ±inf as
   * null, DateTime as 'YYYY-MM-DD hh:mm:ss' in the column's time zone. `T` is not checked at run time.
   */
  query<T = Record<string, unknown>>(statement: SqlFragment): Promise<T[]>;
  /**
   * Inserts rows (FORMAT JSONEachRow, or RowBinary with `options.format`) into a table of the configured
   * database (`name`) or another one (`db.name`). Only `columns` are sent; a row missing one of them is an
   * InvalidRowError.
   */
  insert(table: string, rows: readonly object[], columns: readonly string[], options?: InsertOptions): Promise<void>;
  /**
   * Reads what a RowBinary insert of `columns` into `table` needs (the column types) now, so the first insert
   * does not wait for it. Optional: insert() does the same on first use. Returns the types a RowBinary insert
   * encodes (what `RowBinaryBytes` must hold), or null when such an insert goes as JSONEachRow (a column is
   * missing or has a type without a RowBinary writer here).
   */
  prepareInsert(table: string, columns: readonly string[]): Promise<readonly ColumnType[] | null>;
  /** Runs ad-hoc user SQL as the read-only user; see queryReadOnly(). */
  queryReadOnly<T = Record<string, unknown>>(userSql: string): Promise<T[]>;
  /** Closes the sockets of both users. */
  close(): Promise<void>;
}

export interface InsertOptions {
  /**
   * 'RowBinary' encodes the rows here from the columns' types (read from system.columns once per table and
   * column list) and sends bytes the server stores without parsing text: less CPU per row on both sides than
   * JSONEachRow (the metrics sink, tools/bench/events). A table with a column type the encoder lacks (see
   * row-binary.ts) is inserted as JSONEachRow. @default 'JSONEachRow'
   */
  format?: 'JSONEachRow' | 'RowBinary';
  /**
   * RowBinary only: inserts into the same table and columns that arrive while one is in flight are sent together
   * as the next INSERT (group commit; see insert-coalescer.ts): fewer, larger parts, and about a third less
   * server CPU for the metrics sink's per-partition batches (tools/bench/events/insert-parts.mjs). Each call still
   * resolves only once its rows are in, and fails only for its own rows (encoded before they join; a refused group
   * is sent again call by call).
   * Calls without it are sent on their own. @default false
   */
  coalesce?: boolean;
}

type Role = 'writer' | 'reader';

/**
 * Opens an @clickhouse/client for one user. `database: null` leaves the server's default database, which the
 * migrations need before `CREATE DATABASE` has run. Compression is off: response compression adds the
 * `enable_http_compression` setting, which a readonly=1 profile refuses.
 */
export function openClient(options: ClickHouseOptions, role: Role, database: string | null): ClickHouseClient {
  return createClient({
    url: options.url,
    username: role === 'writer' ? options.username : options.readerUsername,
    password: role === 'writer' ? options.password : options.readerPassword,
    ...(database === null ? {} : { database }),
    request_timeout: options.requestTimeoutMs,
    compression: { request: false, response: false },
    // The writer pins how 64-bit integers come back (as strings, exact) whatever the server's defaults; the
    // reader cannot: a readonly=1 profile refuses any setting that differs from its own value.
    ...(role === 'writer' ? { clickhouse_settings: { output_format_json_quote_64bit_integers: 1 } } : {}),
    // Failures reach the caller as typed errors; the client's own console logging would only duplicate them.
    log: { level: ClickHouseLogLevel.OFF },
    application: 'select-metrics',
  });
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
]);

// Server error codes that describe a passing condition rather than a wrong statement.
const TRANSIENT_SERVER_CODES = new Set([
  159, // TIMEOUT_EXCEEDED
  202, // TOO_MANY_SIMULTANEOUS_QUERIES
  203, // NO_FREE_CONNECTION
  209, // SOCKET_TIMEOUT
  210, // NETWORK_ERROR
  241, // MEMORY_LIMIT_EXCEEDED
  242, // TABLE_IS_READ_ONLY
  252, // TOO_MANY_PARTS
  319, // UNKNOWN_STATUS_OF_INSERT
]);

const READONLY_CODE = 164;

function networkCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
    if (e instanceof AggregateError) {
      const inner = e.errors.map(networkCode).find(Boolean);
      if (inner) return inner;
    }
  }
  return undefined;
}

/**
 * The ClickHouse error code in a failure. 18.16 writes "Code: 60, e.displayText() = ...", current versions
 * "Code: 60. DB::Exception: ..."; @clickhouse/client only parses the latter, so the message is read here.
 */
export function serverErrorCode(err: unknown): number | undefined {
  const message = err instanceof Error ? err.message : String(err);
  const match = /\bCode: (\d+)/.exec(message);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** Turns any failure of a request into ClickHouseUnavailableError, ClickHouseQueryError or ReadOnlyQueryError. */
export function toClickHouseError(err: unknown, operation: string): Error {
  if (err instanceof ClickHouseUnavailableError || err instanceof ClickHouseQueryError) return err;
  const netCode = networkCode(err);
  const message = err instanceof Error ? err.message : String(err);
  if (netCode || /socket hang up|Timeout error|other side closed/i.test(message)) {
    return new ClickHouseUnavailableError(`${operation}: ClickHouse is unreachable (${netCode ?? message})`, {
      cause: err,
    });
  }
  const code = serverErrorCode(err);
  const firstLine = message.split('\n')[0] ?? message;
  if (code === READONLY_CODE) {
    return new ReadOnlyQueryError(`${operation}: the read-only user may not do this: ${firstLine}`, { cause: err });
  }
  if (code !== undefined && TRANSIENT_SERVER_CODES.has(code)) {
    return new ClickHouseUnavailableError(`${operation}: ClickHouse is overloaded or busy: ${firstLine}`, {
      cause: err,
      code,
    });
  }
  return new ClickHouseQueryError(`${operation}: ${firstLine}`, { cause: err, ...(code === undefined ? {} : { code }) });
}

/** `name` or `db.name` as a quoted, validated identifier. */
function tableIdentifier(table: string): string {
  return table.split('.').map(sqlIdentifier).join('.');
}

/** Strips what the client appends around user SQL: a trailing `;` and whitespace. */
function trimStatement(text: string): string {
  return text.replace(/[\s;]+$/, '');
}

export async function runReadOnly<T>(client: ClickHouseClient, userSql: string): Promise<T[]> {
  const statement = assertReadOnlyStatement(userSql);
  try {
    const result = await client.query({ query: statement, format: 'JSONEachRow' });
    return await result.json<T>();
  } catch (err) {
    throw toClickHouseError(err, 'read-only query');
  }
}

/** An ad-hoc query's result with its columns in order and their ClickHouse types: what a table printer needs. */
export interface ReadOnlyTable {
  columns: { name: string; type: string }[];
  /** One array per row, values in column order; JSON as in `query()` (64-bit integers as strings, NaN as null). */
  rows: unknown[][];
}

export async function runReadOnlyTable(client: ClickHouseClient, userSql: string): Promise<ReadOnlyTable> {
  const statement = assertReadOnlyStatement(userSql);
  try {
    // JSONCompact, not JSONEachRow: objects lose the column order (JavaScript puts integer-like keys first)
    // and say nothing about types.
    const result = await client.query({ query: statement, format: 'JSONCompact' });
    const body = await result.json<unknown[]>();
    return { columns: (body.meta ?? []).map(({ name, type }) => ({ name, type })), rows: body.data };
  } catch (err) {
    throw toClickHouseError(err, 'read-only query');
  }
}

/** The key of a table and column list in the encoder and coalescer caches; a table's keys share its prefix. */
const insertKey = (table: string, columns: readonly string[]): string => `${table}\u0000${columns.join('\u0000')}`;

class ClickHouseConnection implements ClickHouse {
  private readonly writer: ClickHouseClient;
  private reader: ClickHouseClient | undefined;
  private readonly encoders = new Map<string, Promise<RowBinaryEncoder | null>>();
  private readonly coalescers = new Map<string, InsertCoalescer>();

  constructor(readonly options: ClickHouseOptions) {
    this.writer = openClient(options, 'writer', options.database);
  }

  async ping(): Promise<boolean> {
    try {
      const result = await this.writer.ping();
      return result.success;
    } catch {
      return false;
    }
  }

  async command(statement: SqlFragment): Promise<void> {
    try {
      await this.writer.command({ query: trimStatement(statement.text) });
    } catch (err) {
      throw toClickHouseError(err, 'command');
    }
  }

  async query<T>(statement: SqlFragment): Promise<T[]> {
    try {
      const result = await this.writer.query({ query: trimStatement(statement.text), format: 'JSONEachRow' });
      return await result.json<T>();
    } catch (err) {
      throw toClickHouseError(err, 'query');
    }
  }

  async insert(table: string, rows: readonly object[], columns: readonly string[], options: InsertOptions = {}): Promise<void> {
    if (rows.length === 0) return;
    if (options.format === 'RowBinary') {
      const key = insertKey(table, columns);
      const encoder = await this.rowBinaryEncoder(key, table, columns);
      if (encoder) {
        const body = encoder.encode(rows);
        if (options.coalesce) return this.coalescer(key, table, encoder).add(body);
        return this.insertRowBinary(table, encoder, [body]);
      }
    }
    const target = tableIdentifier(table);
    const quotedColumns = columns.map(sqlIdentifier);
    const values = rows.map((row) => toJsonEachRow(row, columns));
    try {
      // Names are passed quoted: the client splices table and columns into the statement as they are.
      await this.writer.insert({ table: target, columns: quotedColumns as [string, ...string[]], values, format: 'JSONEachRow' });
    } catch (err) {
      throw toClickHouseError(err, `insert into ${table}`);
    }
  }

  async prepareInsert(table: string, columns: readonly string[]): Promise<readonly ColumnType[] | null> {
    return (await this.rowBinaryEncoder(insertKey(table, columns), table, columns))?.types ?? null;
  }

  /**
   * The RowBinary encoder of `columns` of a table, compiled from their types; null when a column is missing
   * (the JSONEachRow insert then reports it as the server words it) or has a type without a writer.
   */
  private rowBinaryEncoder(key: string, table: string, columns: readonly string[]): Promise<RowBinaryEncoder | null> {
    let encoder = this.encoders.get(key);
    if (encoder === undefined) {
      // The promise is kept, so concurrent first inserts share one lookup; a failed lookup is forgotten.
      encoder = this.compileEncoder(table, columns);
      this.encoders.set(key, encoder);
      encoder.catch(() => this.encoders.delete(key));
    }
    return encoder;
  }

  private async compileEncoder(table: string, columns: readonly string[]): Promise<RowBinaryEncoder | null> {
    const [database, name] = table.includes('.') ? table.split('.', 2) : [this.options.database, table];
    const rows = await this.query<ColumnType>(
      sql`SELECT name, type FROM system.columns WHERE database = ${database ?? ''} AND table = ${name ?? ''}`,
    );
    const types = new Map(rows.map((r) => [r.name, r.type]));
    const wanted = columns.map((column) => ({ name: column, type: types.get(column) ?? '' }));
    return wanted.every((c) => c.type !== '') && rowBinarySupports(wanted) ? compileRowBinary(wanted) : null;
  }

  /** The group commit of a table and column list (`key`, insertKey; the encoder is of those columns). */
  private coalescer(key: string, table: string, encoder: RowBinaryEncoder): InsertCoalescer {
    let coalescer = this.coalescers.get(key);
    if (coalescer === undefined) {
      coalescer = new InsertCoalescer((bodies) => this.insertRowBinary(table, encoder, bodies));
      this.coalescers.set(key, coalescer);
    }
    return coalescer;
  }

  /** One INSERT of RowBinary bodies (each whole rows of the encoder's columns), sent one after another. */
  private async insertRowBinary(table: string, encoder: RowBinaryEncoder, bodies: readonly Buffer[]): Promise<void> {
    const statement = `INSERT INTO ${tableIdentifier(table)} (${encoder.columns.map(sqlIdentifier).join(', ')}) FORMAT RowBinary`;
    try {
      const result = await this.writer.exec({ query: statement, values: Readable.from(bodies, { objectMode: false }) });
      // An INSERT answers with an empty body; reading it to the end frees the socket for the next request.
      for await (const chunk of result.stream) void chunk;
    } catch (err) {
      // The table may have changed under a cached encoder (a migration in another process): read its types again.
      for (const key of this.encoders.keys()) if (key.startsWith(insertKey(table, []))) this.encoders.delete(key);
      throw toClickHouseError(err, `insert into ${table}`);
    }
  }

  async queryReadOnly<T>(userSql: string): Promise<T[]> {
    this.reader ??= openClient(this.options, 'reader', this.options.database);
    return runReadOnly<T>(this.reader, userSql);
  }

  async close(): Promise<void> {
    await Promise.all([this.writer.close(), this.reader?.close()]);
  }
}

/** Opens a connection with options from code, then the CLICKHOUSE_* environment, then the defaults. */
export function createClickHouse(options: Partial<ClickHouseOptions> = {}): ClickHouse {
  return new ClickHouseConnection(addClickHouseDefaults(options));
}

/**
 * Runs one ad-hoc statement as the read-only user (CLICKHOUSE_READER_USER) in the configured database and
 * returns its rows. Only SELECT, WITH, SHOW, DESCRIBE, EXISTS and EXPLAIN are sent; anything else, and
 * anything the server's readonly=1 profile refuses (writes, DDL, SETTINGS changes), is a ReadOnlyQueryError.
 * Opens and closes its own connection; long-lived callers use `ClickHouse.queryReadOnly`.
 */
export async function queryReadOnly<T = Record<string, unknown>>(
  userSql: string,
  options: Partial<ClickHouseOptions> = {},
): Promise<T[]> {
  return withReader(options, (client) => runReadOnly<T>(client, userSql));
}

/**
 * Like queryReadOnly, but returns the columns (names and ClickHouse types, in the statement's order) and the rows
 * as arrays: for printing a result the user wrote, as `select sql` does.
 */
export async function queryReadOnlyTable(userSql: string, options: Partial<ClickHouseOptions> = {}): Promise<ReadOnlyTable> {
  return withReader(options, (client) => runReadOnlyTable(client, userSql));
}

async function withReader<R>(options: Partial<ClickHouseOptions>, run: (client: ClickHouseClient) => Promise<R>): Promise<R> {
  const filled = addClickHouseDefaults(options);
  const client = openClient(filled, 'reader', filled.database);
  try {
    return await run(client);
  } finally {
    await client.close();
  }
}

/**
 * Resolves once the server answers /ping; throws ClickHouseUnavailableError after `timeoutMs` (@default 60000)
 * or when `signal` aborts. Services call it at start-up so that they wait for ClickHouse instead of crashing.
 */
export async function waitForClickHouse(
  ch: ClickHouse,
  options: { timeoutMs?: number; intervalMs?: number; signal?: AbortSignal } = {},
): Promise<void> {
  const { timeoutMs = 60_000, intervalMs = 250, signal } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ch.ping()) return;
    if (signal?.aborted || Date.now() + intervalMs > deadline) {
      throw new ClickHouseUnavailableError(
        `ClickHouse at ${ch.options.url} did not answer /ping within ${timeoutMs} ms${signal?.aborted ? ' (aborted)' : ''}`,
        {},
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
