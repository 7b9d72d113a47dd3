// Public entry of @select/metrics: ClickHouse connection, SQL escaping, migrations, batched writer and
// read-only queries, written for ClickHouse 18.16 (Debian) and current versions alike.
export {
  createClickHouse,
  queryReadOnly,
  queryReadOnlyTable,
  waitForClickHouse,
  type ClickHouse,
  type InsertOptions,
  type ReadOnlyTable,
} from './clickhouse.js';
export { addClickHouseDefaults, clickHouseOptionsFromEnv, type ClickHouseOptions } from './options.js';
export {
  sql,
  sqlDate,
  sqlIdentifier,
  sqlNumber,
  sqlString,
  sqlValue,
  SqlFragment,
  type SqlValue,
} from './sql.js';
export { compileRowBinary, rowBinarySupports, RowBinaryBytes, type ColumnType, type RowBinaryEncoder } from './row-binary.js';
export { runMigrations, type Migration, type MigrationReport } from './migrations.js';
export { createBatchedWriter, type BatchedWriter, type BatchedWriterOptions } from './batched-writer.js';
export { addRetryDefaults, backoffDelay, type RetryPolicy } from './backoff.js';
export {
  ClickHouseConfigError,
  ClickHouseQueryError,
  ClickHouseUnavailableError,
  InvalidRowError,
  MigrationError,
  ReadOnlyQueryError,
  SqlValueError,
  WriterClosedError,
  WriterGaveUpError,
} from './errors.js';
