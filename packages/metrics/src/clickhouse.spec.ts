import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClickHouse, queryReadOnly, queryReadOnlyTable, waitForClickHouse, type ClickHouse } from './clickhouse.js';
import { holdClickHouseUp } from '@select/testing';
import { ClickHouseQueryError, ClickHouseUnavailableError, InvalidRowError, ReadOnlyQueryError } from './errors.js';
import { assertReadOnlyStatement } from './read-only-statement.js';
import { sql } from './sql.js';
import { createTestDatabase } from './test-database.test-util.js';

describe('read-only statements (pure)', () => {
  it('lets reading statements through and strips a trailing semicolon', () => {
    expect(assertReadOnlyStatement('SELECT 1;  ')).toBe('SELECT 1');
    expect(assertReadOnlyStatement('-- top classes\n/* x */ (SELECT 1)')).toBe('-- top classes\n/* x */ (SELECT 1)');
    expect(assertReadOnlyStatement('with x as (select 1) select * from x')).toContain('with');
    expect(assertReadOnlyStatement('SHOW TABLES')).toBe('SHOW TABLES');
  });

  it('names the statement it refuses', () => {
    expect(() => assertReadOnlyStatement("INSERT INTO samples VALUES ('x')")).toThrow(/got INSERT/);
    expect(() => assertReadOnlyStatement('/* hidden */ DROP TABLE samples')).toThrow(/got DROP/);
    expect(() => assertReadOnlyStatement('  ;')).toThrow(ReadOnlyQueryError);
    expect(() => assertReadOnlyStatement('SELECT 1 FORMAT CSV')).toThrow(/FORMAT/);
  });
});

describe('ClickHouse connection', () => {
  let ch: ClickHouse;
  let database: string;
  let drop: () => Promise<void>;
  let release: () => void;

  beforeAll(async () => {
    release = await holdClickHouseUp();
    ({ ch, database, drop } = await createTestDatabase());
    await ch.command(sql`CREATE TABLE samples (id String, class_index Int32) ENGINE = MergeTree() ORDER BY id`);
    await ch.insert('samples', [{ id: 'a', class_index: 1 }, { id: 'b', class_index: 2 }], ['id', 'class_index']);
  });
  afterAll(async () => {
    await drop?.();
    release?.();
  });

  it('runs typed SELECTs', async () => {
    const rows = await ch.query<{ id: string; class_index: number }>(
      sql`SELECT id, class_index FROM samples WHERE class_index >= ${2}`,
    );
    expect(rows).toEqual([{ id: 'b', class_index: 2 }]);
  });

  it('answers ad-hoc SELECTs as the read-only user', async () => {
    const rows = await queryReadOnly<{ n: string }>('SELECT count() AS n FROM samples;', { database });
    expect(rows).toEqual([{ n: '2' }]);
    expect(await ch.queryReadOnly<{ id: string }>('SELECT id FROM samples ORDER BY id')).toEqual([
      { id: 'a' },
      { id: 'b' },
    ]);
  });

  it('returns ad-hoc results as columns in statement order with their types, for printing', async () => {
    const table = await queryReadOnlyTable("SELECT id, class_index AS `1`, 'x' AS z FROM samples ORDER BY id", { database });
    expect(table.columns).toEqual([
      { name: 'id', type: 'String' },
      { name: '1', type: 'Int32' },
      { name: 'z', type: 'String' },
    ]);
    expect(table.rows).toEqual([
      ['a', 1, 'x'],
      ['b', 2, 'x'],
    ]);
    await expect(queryReadOnlyTable('DROP TABLE samples', { database })).rejects.toThrow(ReadOnlyQueryError);
  });

  it('refuses INSERT and DROP through the read-only path and leaves the data alone', async () => {
    await expect(queryReadOnly("INSERT INTO samples VALUES ('c', 3)", { database })).rejects.toThrow(
      /read-only queries may only SELECT.*got INSERT/,
    );
    await expect(ch.queryReadOnly('DROP TABLE samples')).rejects.toThrow(ReadOnlyQueryError);
    expect(await ch.query(sql`SELECT count() AS n FROM samples`)).toEqual([{ n: '2' }]);
  });

  it('relies on the server too: the reader may not even change a setting', async () => {
    const err = await ch.queryReadOnly('SELECT 1 SETTINGS max_threads = 1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReadOnlyQueryError);
    expect((err as Error).message).toMatch(/readonly/i);
  });

  it('reports a bad statement as a query error with the server code', async () => {
    const err = await ch.query(sql`SELECT * FROM no_such_table`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClickHouseQueryError);
    expect((err as ClickHouseQueryError).code).toBe(60);
  });

  it('refuses a row that lacks a column instead of inserting a default', async () => {
    await expect(ch.insert('samples', [{ id: 'c' }], ['id', 'class_index'])).rejects.toThrow(InvalidRowError);
  });

  it('reports an unreachable server as unavailable', async () => {
    const down = createClickHouse({ url: 'http://127.0.0.1:1', database });
    try {
      expect(await down.ping()).toBe(false);
      await expect(down.query(sql`SELECT 1`)).rejects.toThrow(ClickHouseUnavailableError);
      await expect(waitForClickHouse(down, { timeoutMs: 300, intervalMs: 100 })).rejects.toThrow(/did not answer/);
    } finally {
      await down.close();
    }
  });
});
