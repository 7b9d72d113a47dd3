import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClickHouse, type ClickHouse } from './clickhouse.js';
import { holdClickHouseUp } from '@select/testing';
import { MigrationError } from './errors.js';
import { runMigrations, type Migration } from './migrations.js';
import { sql } from './sql.js';

const BASE: Migration[] = [
  {
    id: '0001_events',
    sql: `CREATE TABLE IF NOT EXISTS events
      (event_id String, event_time DateTime('UTC'), value Float64)
      ENGINE = ReplacingMergeTree(event_time) PARTITION BY toYYYYMM(event_time) ORDER BY event_id
      SETTINGS index_granularity = 8192`,
  },
  { id: '0002_latest', sql: 'CREATE VIEW IF NOT EXISTS latest AS SELECT event_id, value FROM events FINAL' },
];

describe('runMigrations', () => {
  let ch: ClickHouse;
  let admin: ClickHouse;
  let release: () => void;
  const database = `select_test_${randomBytes(6).toString('hex')}`;

  beforeAll(async () => {
    release = await holdClickHouseUp();
    // The database does not exist yet: the migrations create it.
    ch = createClickHouse({ database });
    admin = createClickHouse({ database: 'default' });
  });
  afterAll(async () => {
    await admin.command(sql`DROP DATABASE IF EXISTS ${sql.id(database)}`);
    await Promise.all([ch.close(), admin.close()]);
    release?.();
  });

  const tables = async (): Promise<string[]> =>
    (await ch.query<{ name: string }>(sql`SELECT name FROM system.tables WHERE database = ${database} ORDER BY name`)).map(
      (r) => r.name,
    );

  it('creates the database and applies every migration once; a second run is a no-op', async () => {
    const first = await runMigrations(ch, BASE);
    expect(first).toEqual({ applied: ['0001_events', '0002_latest'], alreadyApplied: [] });
    expect(await tables()).toEqual(['events', 'latest', 'schema_migrations']);
    await ch.insert('events', [{ event_id: 'e1', event_time: new Date(), value: 1 }], ['event_id', 'event_time', 'value']);

    const second = await runMigrations(ch, BASE);
    expect(second).toEqual({ applied: [], alreadyApplied: ['0001_events', '0002_latest'] });
    expect(await tables()).toEqual(['events', 'latest', 'schema_migrations']);
    const recorded = await ch.query<{ n: string }>(sql`SELECT count() AS n FROM schema_migrations`);
    expect(recorded).toEqual([{ n: '2' }]);
    expect(await ch.query(sql`SELECT event_id, value FROM latest`)).toEqual([{ event_id: 'e1', value: 1 }]);
  });

  it('applies only the migrations added since the last run', async () => {
    const next = [...BASE, { id: '0003_extra', sql: 'CREATE TABLE IF NOT EXISTS extra (id String) ENGINE = Memory' }];
    expect(await runMigrations(ch, next)).toEqual({
      applied: ['0003_extra'],
      alreadyApplied: ['0001_events', '0002_latest'],
    });
    expect(await tables()).toContain('extra');
  });

  it('refuses an applied migration whose SQL was edited', async () => {
    const edited = [{ id: '0001_events', sql: 'CREATE TABLE IF NOT EXISTS events (x String) ENGINE = Memory' }];
    await expect(runMigrations(ch, edited)).rejects.toThrow(/applied with different SQL/);
  });

  it('reports a failing migration by id and does not record it', async () => {
    const broken = [...BASE, { id: '0004_broken', sql: 'CREATE TABLE IF NOT EXISTS broken (x NoSuchType) ENGINE = Memory' }];
    const err = await runMigrations(ch, broken).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as MigrationError).migrationId).toBe('0004_broken');
    const ids = await ch.query<{ id: string }>(sql`SELECT id FROM schema_migrations FINAL ORDER BY id`);
    expect(ids.map((r) => r.id)).not.toContain('0004_broken');
  });
});
