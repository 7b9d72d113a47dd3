// Each test file works in its own random database on the shared server and drops it afterwards.
import { randomBytes } from 'node:crypto';
import { createClickHouse, type ClickHouse } from './clickhouse.js';
import { sql } from './sql.js';

export function randomDatabaseName(): string {
  return `select_test_${randomBytes(6).toString('hex')}`;
}

/** A connection to a fresh database (created); `drop()` removes the database and closes the connection. */
export async function createTestDatabase(): Promise<{ ch: ClickHouse; database: string; drop(): Promise<void> }> {
  const database = randomDatabaseName();
  const ch = createClickHouse({ database });
  const admin = createClickHouse({ database: 'default' });
  await admin.command(sql`CREATE DATABASE ${sql.id(database)}`);
  return {
    ch,
    database,
    async drop() {
      await admin.command(sql`DROP DATABASE IF EXISTS ${sql.id(database)}`);
      await Promise.all([ch.close(), admin.close()]);
    },
  };
}
