// `select sql`: ad-hoc SQL as the read-only ClickHouse user, printed for people or as JSON for scripts.
import { addClickHouseDefaults, queryReadOnlyTable } from '@select/metrics';
import { CliError, EXIT_CODES, toCliError } from './errors.js';
import { formatTable } from './table-format.js';

export type OutputFormat = 'table' | 'json';

export interface SqlCommandOptions {
  /** @default 'table' */
  format?: OutputFormat;
  /** Database the statement runs in. @default CLICKHOUSE_DATABASE, else 'select' */
  database?: string;
  /** Longest cell in table output; 0 keeps cells whole. @default 60 */
  maxCellWidth?: number;
}

/** Runs the statement and returns what to print; failures come out as CliErrors naming the server. */
export async function runSqlCommand(statement: string, options: SqlCommandOptions = {}): Promise<string> {
  let connection;
  try {
    connection = addClickHouseDefaults(options.database ? { database: options.database } : {});
  } catch (err) {
    throw toCliError(err);
  }
  try {
    const { columns, rows } = await queryReadOnlyTable(statement, { database: connection.database });
    if ((options.format ?? 'table') === 'json') {
      const objects = rows.map((row) => Object.fromEntries(columns.map((c, i) => [c.name, row[i] ?? null])));
      return `${JSON.stringify(objects, null, 2)}\n`;
    }
    return formatTable(columns, rows, options.maxCellWidth === undefined ? {} : { maxCellWidth: options.maxCellWidth });
  } catch (err) {
    throw toCliError(err, { clickhouseUrl: connection.url });
  }
}

export function parseOutputFormat(value: string): OutputFormat {
  if (value === 'table' || value === 'json') return value;
  throw new CliError(`--format must be table or json, got ${JSON.stringify(value)}`, { exitCode: EXIT_CODES.usage });
}
