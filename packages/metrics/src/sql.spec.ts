import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouse } from './clickhouse.js';
import { holdClickHouseUp } from '@select/testing';
import { SqlValueError } from './errors.js';
import { sql, sqlDate, sqlIdentifier, sqlNumber, sqlString, sqlValue } from './sql.js';
import { createTestDatabase } from './test-database.test-util.js';

const ALL_CONTROLS = Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join('') + '\u007f';

const HOSTILE = [
  '',
  "'",
  "''",
  '\\',
  "\\'",
  "\\\\'",
  "'; DROP TABLE t; --",
  "x' OR '1'='1",
  "') ; DROP TABLE t; SELECT ('",
  'a\0b',
  '\0',
  'line1\nline2\r\nline3\ttab',
  ALL_CONTROLS,
  '-- comment',
  '/* block */',
  '"double" `backtick`',
  '\\N',
  '\\x41 \\0 \\n (escape sequences as text)',
  '{placeholder:String} ? $1 %s',
  'naïve café — 日本語 — Ελληνικά — עברית\u200f',
  '🎉 emoji 👩‍👩‍👧 and \u2028 \u2029 separators',
  'x'.repeat(100_000),
];

describe('sql escaping (pure)', () => {
  it('quotes strings and escapes backslash, quote, NUL and control bytes', () => {
    expect(sqlString("it's")).toBe("'it\\'s'");
    expect(sqlString('a\\b')).toBe("'a\\\\b'");
    expect(sqlString('a\0b\n\r\t')).toBe("'a\\0b\\n\\r\\t'");
    expect(sqlString('\u0001\u001f\u007f')).toBe("'\\x01\\x1f\\x7f'");
    expect(sqlString('日本 🎉')).toBe("'日本 🎉'");
  });

  it('refuses strings that have no UTF-8 form', () => {
    expect(() => sqlString('broken \ud800 surrogate')).toThrow(SqlValueError);
    expect(() => sqlString('\udc00')).toThrow(SqlValueError);
  });

  it('accepts only plain identifiers and backtick-quotes them', () => {
    expect(sqlIdentifier('samples')).toBe('`samples`');
    expect(sql.id('select', 'samples').text).toBe('`select`.`samples`');
    for (const bad of ['', '1abc', 'a-b', 'a b', 'a`b', 'a.b', "x'; DROP", 'é', 'a'.repeat(256)]) {
      expect(() => sqlIdentifier(bad), bad).toThrow(SqlValueError);
    }
  });

  it('writes numbers so that no value can start a comment or be misread', () => {
    expect(sqlNumber(1.5)).toBe('1.5');
    expect(sqlNumber(-1)).toBe('(-1)');
    expect(sql`SELECT 1-${-1}`.text).toBe('SELECT 1-(-1)');
    expect(sqlNumber(Number.NaN)).toBe('nan');
    expect(sqlNumber(Infinity)).toBe('inf');
    expect(sqlNumber(-Infinity)).toBe('(-inf)');
    expect(sqlNumber(-0)).toBe('(-0.)');
    expect(sqlNumber(12345678901234567890n)).toBe('12345678901234567890');
    expect(sqlNumber(-5n)).toBe('(-5)');
  });

  it('writes dates as unix seconds and refuses invalid ones', () => {
    expect(sqlDate(new Date('2024-01-01T00:00:00.999Z'))).toBe('toDateTime(1704067200)');
    expect(() => sqlDate(new Date('nope'))).toThrow(SqlValueError);
    expect(() => sqlDate(new Date('1969-12-31T23:59:59Z'))).toThrow(SqlValueError);
  });

  it('escapes every interpolation of the sql tag by type and keeps fragments as they are', () => {
    const shift = "in'1000";
    const fragment = sql`SELECT * FROM ${sql.id('samples')} WHERE shift_id = ${shift} AND class_index IN ${sql.tuple([
      1, 2,
    ])} AND has(${['a', "b'"]}, wnid) AND ok = ${true} AND x IS ${null}`;
    expect(fragment.text).toBe(
      "SELECT * FROM `samples` WHERE shift_id = 'in\\'1000' AND class_index IN (1, 2) AND has(['a', 'b\\''], wnid) AND ok = 1 AND x IS NULL",
    );
    expect(sql`${sql`a = ${1}`} AND ${sql.raw('b = 2')}`.text).toBe('a = 1 AND b = 2');
    expect(sql.join([sql.raw('a'), 'b', 3], ' | ').text).toBe("a | 'b' | 3");
    expect(() => sql.tuple([])).toThrow(SqlValueError);
    expect(() => sqlValue({} as never)).toThrow(SqlValueError);
  });
});

describe('sql escaping round-trips through the real server', () => {
  let ch: ClickHouse;
  let drop: () => Promise<void>;
  let release: () => void;

  beforeAll(async () => {
    release = await holdClickHouseUp();
    ({ ch, drop } = await createTestDatabase());
  });
  afterAll(async () => {
    await drop?.();
    release?.();
  });

  it('stores and finds every hostile string exactly, and the table survives', async () => {
    await ch.command(sql`CREATE TABLE t (id UInt32, s String, a Array(String)) ENGINE = MergeTree() ORDER BY id`);
    for (const [i, s] of HOSTILE.entries()) {
      await ch.command(sql`INSERT INTO t VALUES (${i}, ${s}, ${[s, 'plain']})`);
    }
    const rows = await ch.query<{ id: number; s: string; a: string[] }>(sql`SELECT id, s, a FROM t ORDER BY id`);
    expect(rows.map((r) => r.s)).toEqual(HOSTILE);
    expect(rows.map((r) => r.a)).toEqual(HOSTILE.map((s) => [s, 'plain']));
    for (const [i, s] of HOSTILE.entries()) {
      const found = await ch.query<{ id: number }>(sql`SELECT id FROM t WHERE s = ${s} AND has(a, ${s})`);
      expect(found.map((r) => r.id), `lookup of hostile string #${i}`).toEqual([i]);
    }
    const tables = await ch.query<{ name: string }>(sql`SHOW TABLES`);
    expect(tables.map((r) => r.name)).toEqual(['t']);
  });

  it('stores the same strings through JSONEachRow inserts', async () => {
    await ch.command(sql`CREATE TABLE j (id UInt32, s String) ENGINE = MergeTree() ORDER BY id`);
    await ch.insert('j', HOSTILE.map((s, id) => ({ id, s })), ['id', 's']);
    const rows = await ch.query<{ s: string }>(sql`SELECT s FROM j ORDER BY id`);
    expect(rows.map((r) => r.s)).toEqual(HOSTILE);
  });

  it('keeps float edge values, 64-bit integers and dates', async () => {
    const floats = [0, -0, 1.5, 0.1 + 0.2, -1e-300, 5e-324, -5e-324, 2.2250738585072014e-308, Number.MAX_VALUE, 1e21];
    await ch.command(sql`CREATE TABLE n (id UInt32, v Float64, i Int64, u UInt64, d DateTime('UTC')) ENGINE = Memory`);
    for (const [id, v] of floats.entries()) {
      await ch.command(sql`INSERT INTO n VALUES (${id}, ${v}, ${-9223372036854775808n}, ${18446744073709551615n}, ${new Date(
        '2024-02-29T23:59:59.999Z',
      )})`);
    }
    const back = await ch.query<{ v: number; i: string; u: string; ts: string }>(
      sql`SELECT v, i, u, toString(toUnixTimestamp(d)) AS ts FROM n ORDER BY id`,
    );
    expect(back.map((r) => r.v)).toEqual(floats); // toEqual tells -0 from 0
    expect(new Set(back.map((r) => `${r.i} ${r.u} ${r.ts}`))).toEqual(
      new Set(['-9223372036854775808 18446744073709551615 1709251199']),
    );
    const special = await ch.query<{ s: string }>(
      sql`SELECT toString(${Number.NaN}) AS s UNION ALL SELECT toString(${Infinity}) UNION ALL SELECT toString(${-Infinity})`,
    );
    expect(special.map((r) => r.s).sort()).toEqual(['-inf', 'inf', 'nan']);
  });
});
