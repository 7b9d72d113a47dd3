// Schema migrations that run at every start-up. Each migration is one statement written to be idempotent
// (CREATE ... IF NOT EXISTS), and the ids of applied ones are recorded in `schema_migrations`, so a second
// run, or two services starting at once, changes nothing.
import { createHash } from 'node:crypto';
import type { ClickHouse } from './clickhouse.js';
import { openClient, toClickHouseError } from './clickhouse.js';
import { ClickHouseUnavailableError, MigrationError } from './errors.js';
import { sql } from './sql.js';

export interface Migration {
  /** Unique and stable, e.g. '0001_samples'; applied in the order of the list. */
  readonly id: string;
  /**
   * One statement (the HTTP interface runs one per request). Unqualified table names refer to the configured
   * database; views store them qualified at creation, so they keep working from any current database.
   */
  readonly sql: string;
}

export interface MigrationReport {
  /** Ids applied by this run, in order. */
  applied: string[];
  /** Ids found already applied. */
  alreadyApplied: string[];
}

const SCHEMA_MIGRATIONS = sql.raw(`CREATE TABLE IF NOT EXISTS schema_migrations
(
    id String,
    checksum String,
    applied_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY id
SETTINGS index_granularity = 8192`);

function checksum(statement: string): string {
  return createHash('sha256').update(statement.trim()).digest('hex');
}

async function ensureDatabase(ch: ClickHouse): Promise<void> {
  // The connection's own requests name the database, which fails while it does not exist yet.
  const bootstrap = openClient(ch.options, 'writer', null);
  try {
    await bootstrap.command({ query: sql`CREATE DATABASE IF NOT EXISTS ${sql.id(ch.options.database)}`.text });
  } catch (err) {
    throw toClickHouseError(err, `create database ${ch.options.database}`);
  } finally {
    await bootstrap.close();
  }
}

/**
 * Creates the configured database and `schema_migrations` if needed, then applies, in order, every migration
 * whose id is not recorded yet. Throws MigrationError when a statement fails (later ones are not run; fix and
 * start again) or when an applied migration's SQL has changed since (add a new migration instead).
 * ClickHouse being down surfaces as ClickHouseUnavailableError, so a caller can wait and retry.
 */
export async function runMigrations(ch: ClickHouse, migrations: readonly Migration[]): Promise<MigrationReport> {
  const seen = new Set<string>();
  for (const m of migrations) {
    if (!m.id || seen.has(m.id)) throw new MigrationError(m.id, `migration id ${JSON.stringify(m.id)} is empty or repeated`);
    seen.add(m.id);
  }

  await ensureDatabase(ch);
  await ch.command(SCHEMA_MIGRATIONS);
  const rows = await ch.query<{ id: string; checksum: string }>(
    sql`SELECT id, any(checksum) AS checksum FROM schema_migrations GROUP BY id`,
  );
  const recorded = new Map(rows.map((r) => [r.id, r.checksum]));

  const report: MigrationReport = { applied: [], alreadyApplied: [] };
  for (const m of migrations) {
    const sum = checksum(m.sql);
    const previous = recorded.get(m.id);
    if (previous !== undefined) {
      if (previous !== sum) {
        throw new MigrationError(
          m.id,
          `migration ${m.id} was applied with different SQL; never edit an applied migration, add a new one`,
        );
      }
      report.alreadyApplied.push(m.id);
      continue;
    }
    try {
      await ch.command(sql.raw(m.sql));
    } catch (cause) {
      if (cause instanceof ClickHouseUnavailableError) throw cause;
      throw new MigrationError(m.id, `migration ${m.id} failed: ${(cause as Error).message}`, { cause });
    }
    await ch.insert('schema_migrations', [{ id: m.id, checksum: sum, applied_at: new Date() }], [
      'id',
      'checksum',
      'applied_at',
    ]);
    report.applied.push(m.id);
  }
  return report;
}
