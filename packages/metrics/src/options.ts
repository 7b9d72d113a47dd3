// Connection options: code beats environment beats defaults, each default documented once here.
import { ClickHouseConfigError, SqlValueError } from './errors.js';
import { sqlIdentifier } from './sql.js';

export interface ClickHouseOptions {
  /** HTTP endpoint. Env CLICKHOUSE_URL. @default 'http://127.0.0.1:8123' */
  url: string;
  /** User that migrates and inserts. Env CLICKHOUSE_USER. @default 'default' */
  username: string;
  /** Env CLICKHOUSE_PASSWORD. @default '' */
  password: string;
  /** Database holding the tables; created by the migrations. Env CLICKHOUSE_DATABASE. @default 'select' */
  database: string;
  /** Read-only user (profile readonly=1) for ad-hoc SQL. Env CLICKHOUSE_READER_USER. @default 'select_reader' */
  readerUsername: string;
  /** Env CLICKHOUSE_READER_PASSWORD. @default 'reader' */
  readerPassword: string;
  /** Per-request timeout in milliseconds. Env CLICKHOUSE_REQUEST_TIMEOUT_MS. @default 30000 */
  requestTimeoutMs: number;
}

const DEFAULTS: ClickHouseOptions = {
  url: 'http://127.0.0.1:8123',
  username: 'default',
  password: '',
  database: 'select',
  readerUsername: 'select_reader',
  readerPassword: 'reader',
  requestTimeoutMs: 30_000,
};

/** The options set in the environment (only those present). */
export function clickHouseOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<ClickHouseOptions> {
  const out: Partial<ClickHouseOptions> = {};
  const text = (name: string): string | undefined => env[name];
  const url = text('CLICKHOUSE_URL');
  if (url) out.url = url;
  const username = text('CLICKHOUSE_USER');
  if (username) out.username = username;
  const password = text('CLICKHOUSE_PASSWORD');
  if (password !== undefined) out.password = password;
  const database = text('CLICKHOUSE_DATABASE');
  if (database) out.database = database;
  const readerUsername = text('CLICKHOUSE_READER_USER');
  if (readerUsername) out.readerUsername = readerUsername;
  const readerPassword = text('CLICKHOUSE_READER_PASSWORD');
  if (readerPassword !== undefined) out.readerPassword = readerPassword;
  const timeout = text('CLICKHOUSE_REQUEST_TIMEOUT_MS');
  if (timeout) {
    const ms = Number(timeout);
    if (!Number.isInteger(ms) || ms <= 0) {
      throw new ClickHouseConfigError(`CLICKHOUSE_REQUEST_TIMEOUT_MS must be a positive integer, got ${JSON.stringify(timeout)}`);
    }
    out.requestTimeoutMs = ms;
  }
  return out;
}

/** Fills options: explicit values first, then the environment, then the defaults; validates the result. */
export function addClickHouseDefaults(
  options: Partial<ClickHouseOptions> = {},
  env: NodeJS.ProcessEnv = process.env,
): ClickHouseOptions {
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const filled: ClickHouseOptions = { ...DEFAULTS, ...clickHouseOptionsFromEnv(env), ...defined };
  // The database name goes into DDL; reject a bad one before any statement is built.
  try {
    sqlIdentifier(filled.database);
  } catch (cause) {
    if (cause instanceof SqlValueError) throw new ClickHouseConfigError(`database name: ${cause.message}`, { cause });
    throw cause;
  }
  try {
    new URL(filled.url);
  } catch (cause) {
    throw new ClickHouseConfigError(`ClickHouse url ${JSON.stringify(filled.url)} is not a URL`, { cause });
  }
  return filled;
}
