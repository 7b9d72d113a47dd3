import { holdClickHouseUp } from '@select/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouse } from './clickhouse.js';
import { ClickHouseQueryError, InvalidRowError } from './errors.js';
import { compileRowBinary, RowBinaryBytes, rowBinarySupports, type ColumnType } from './row-binary.js';
import { sql } from './sql.js';
import { createTestDatabase } from './test-database.test-util.js';

const COLUMNS: ColumnType[] = [
  { name: 'id', type: 'String' },
  { name: 'at', type: "DateTime('UTC')" },
  { name: 'ms', type: 'UInt16' },
  { name: 'flag', type: 'UInt8' },
  { name: 'small', type: 'Int8' },
  { name: 'i32', type: 'Int32' },
  { name: 'u32', type: 'UInt32' },
  { name: 'i64', type: 'Int64' },
  { name: 'u64', type: 'UInt64' },
  { name: 'f32', type: 'Float32' },
  { name: 'f64', type: 'Float64' },
  { name: 'tags', type: 'Array(String)' },
  { name: 'ids', type: 'Array(Int64)' },
];
const NAMES = COLUMNS.map((c) => c.name);
const DDL = COLUMNS.map((c) => `${c.name} ${c.type}`).join(', ');

const row = (id: string, over: Record<string, unknown> = {}): Record<string, unknown> => ({
  id,
  at: new Date('2026-12-06T12:00:01.999Z'),
  ms: 999,
  flag: true,
  small: -128,
  i32: -2_147_483_648,
  u32: 4_294_967_295,
  i64: '-9223372036854775808',
  u64: '18446744073709551615',
  f32: 0.5,
  f64: Number.NaN,
  tags: ['a', 'ü', ''],
  ids: [0, -1, '9007199254740993'],
  ...over,
});

// Strings around the one-byte length (<= 42 UTF-16 units, then measured) and past a two-byte LEB128 length.
const STRINGS = ['', 'x'.repeat(42), 'é'.repeat(42), '€'.repeat(42), 'x'.repeat(43), 'ü'.repeat(64), '𝄞'.repeat(50), 'y'.repeat(20_000)];

describe('RowBinary encoding (pure)', () => {
  const encoder = compileRowBinary(COLUMNS);

  it('writes little-endian values with LEB128 lengths, in column order', () => {
    const bytes = compileRowBinary([
      { name: 's', type: 'String' },
      { name: 'n', type: 'UInt16' },
      { name: 'a', type: 'Array(String)' },
    ]).encode([{ s: 'hé', n: 258, a: ['', 'z'] }]);
    expect([...bytes]).toEqual([3, 0x68, 0xc3, 0xa9, 2, 1, 2, 0, 1, 0x7a]);
    const long = compileRowBinary([{ name: 's', type: 'String' }]).encode([{ s: 'x'.repeat(300) }]);
    expect([...long.subarray(0, 2)]).toEqual([0xac, 0x02]);
    expect(long.length).toBe(302);
  });

  it('names the column of a value that does not fit, and never writes a default for a missing one', () => {
    const bad = (over: Record<string, unknown>): (() => Buffer) => () => encoder.encode([row('a', over)]);
    expect(bad({ i32: undefined })).toThrow(new InvalidRowError('row has no value for column i32'));
    expect(bad({ ms: 65_536 })).toThrow(/column ms: 65536 is outside the range of UInt16/);
    expect(bad({ small: 1.5 })).toThrow(/column small: number 1.5 is not an integer for Int8/);
    expect(bad({ u64: '-1' })).toThrow(/column u64: -1 is outside the range of UInt64/);
    expect(bad({ i64: '12abc' })).toThrow(/column i64: string 12abc is not an integer for Int64/);
    expect(bad({ f64: '1.5' })).toThrow(/column f64: string is not a number for Float64/);
    expect(bad({ id: 7 })).toThrow(/column id: number is not a string/);
    expect(bad({ tags: 'a' })).toThrow(/column tags: string is not an array/);
    expect(bad({ at: new Date(Number.NaN) })).toThrow(/column at: date is invalid or outside the DateTime range/);
    expect(bad({ at: new Date('1969-12-31T23:59:59Z') })).toThrow(/DateTime range/);
    expect(bad({ id: 'ok\uD800' })).toThrow(/column id: string holds a lone UTF-16 surrogate/);
  });

  it('copies RowBinaryBytes for the columns they cover and reads the row on after them', () => {
    const columns: ColumnType[] = [
      { name: 'a', type: 'String' },
      { name: 'b', type: 'UInt16' },
      { name: 'c', type: 'String' },
      { name: 'd', type: 'UInt8' },
    ];
    const plain = compileRowBinary(columns).encode([{ a: 'x', b: 258, c: 'yz', d: 7 }]);
    const tail = compileRowBinary(columns.slice(1, 3)).encode([{ b: 258, c: 'yz' }]);
    // the covered columns' own values (here absent or wrong) are not read
    const viaBytes = compileRowBinary(columns).encode([{ a: 'x', b: new RowBinaryBytes(tail, 2), c: 12, d: 7 }]);
    expect([...viaBytes]).toEqual([...plain]);
    expect(() => compileRowBinary(columns).encode([{ a: 'x', b: 1, c: new RowBinaryBytes(tail, 3), d: 7 }])).toThrow(
      /column c: RowBinaryBytes for 3 columns, but only 2 columns are left/,
    );
    expect(() => new RowBinaryBytes(tail, 0)).toThrow(RangeError);
  });

  it('says which types it can write', () => {
    expect(rowBinarySupports(COLUMNS)).toBe(true);
    expect(rowBinarySupports([{ name: 'x', type: 'Nullable(String)' }])).toBe(false);
    expect(rowBinarySupports([{ name: 'x', type: 'Array(LowCardinality(String))' }])).toBe(false);
    expect(() => compileRowBinary([{ name: 'x', type: 'Decimal(9, 2)' }])).toThrow(/column x: RowBinary is not supported here for type Decimal\(9, 2\)/);
  });
});

describe('RowBinary inserts into the real server', () => {
  let ch: ClickHouse;
  let drop: () => Promise<void>;
  let release: () => void;

  beforeAll(async () => {
    release = await holdClickHouseUp();
    ({ ch, drop } = await createTestDatabase());
    for (const table of ['as_json', 'as_binary']) {
      await ch.command(sql`CREATE TABLE ${sql.id(table)} (${sql.raw(DDL)}) ENGINE = MergeTree() ORDER BY id`);
    }
    await ch.command(sql`CREATE TABLE odd (id String, maybe Nullable(String)) ENGINE = MergeTree() ORDER BY id`);
  });
  afterAll(async () => {
    await drop?.();
    release?.();
  });

  it('stores exactly what the JSONEachRow path stores, edge values and long UTF-8 strings included', async () => {
    const rows = [
      row('edges'),
      row('zeros', { flag: false, small: 127, i32: 0, u32: 0, i64: 0, u64: 0, f32: 0, f64: Number.POSITIVE_INFINITY, tags: [], ids: [] }),
      row('max', { i64: '9223372036854775807', u64: 9_007_199_254_740_991, i32: 2_147_483_647, at: new Date(0), ms: 0 }),
      ...STRINGS.map((s, i) => row(`s${i}`, { id: `s${i}-${s}`, tags: [s, s] })),
    ];
    await ch.insert('as_json', rows, NAMES);
    await ch.insert('as_binary', rows, NAMES, { format: 'RowBinary' });
    const read = (table: string): Promise<unknown[]> =>
      ch.query(sql`SELECT ${sql.raw(NAMES.join(', '))}, toString(f64) AS f64_text FROM ${sql.id(table)} ORDER BY id`);
    const [json, binary] = await Promise.all([read('as_json'), read('as_binary')]);
    expect(binary).toHaveLength(rows.length);
    expect(binary).toEqual(json);
    expect(binary).toContainEqual(expect.objectContaining({ id: 'edges', i64: '-9223372036854775808', u64: '18446744073709551615', f64_text: 'nan', ids: ['0', '-1', '9007199254740993'] }));
  });

  it('refuses a batch with a bad row as a whole, naming the column, and inserts nothing of it', async () => {
    await expect(ch.insert('as_binary', [row('fine'), row('bad', { u32: -1 })], NAMES, { format: 'RowBinary' })).rejects.toThrow(
      /column u32: -1 is outside the range of UInt32/,
    );
    const [count] = await ch.query<{ n: string }>(sql`SELECT count() AS n FROM as_binary WHERE id IN ('fine', 'bad')`);
    expect(count?.n).toBe('0');
  });

  it('falls back to JSONEachRow for types it cannot write, and reports unknown columns as the server does', async () => {
    await ch.insert('odd', [{ id: 'a', maybe: 'x' }], ['id', 'maybe'], { format: 'RowBinary' });
    expect(await ch.query(sql`SELECT id, maybe FROM odd`)).toEqual([{ id: 'a', maybe: 'x' }]);
    await expect(ch.insert('odd', [{ id: 'b', nope: 1 }], ['id', 'nope'], { format: 'RowBinary' })).rejects.toThrow(ClickHouseQueryError);
  });

  it('coalesces inserts that overlap into one INSERT, each call answered for its own rows', async () => {
    await ch.command(sql`CREATE TABLE grouped (${sql.raw(DDL)}) ENGINE = MergeTree() ORDER BY id`);
    await ch.command(sql`SYSTEM STOP MERGES grouped`);
    const parts = async (): Promise<number> =>
      Number((await ch.query<{ n: string }>(sql`SELECT count() AS n FROM system.parts WHERE database = ${ch.options.database} AND table = 'grouped' AND active`))[0]?.n);
    const batch = (tag: string): Record<string, unknown>[] => Array.from({ length: 50 }, (_, i) => row(`${tag}-${i}`));
    // six at once: the first goes alone, the five that wait for it go as one INSERT
    const outcomes = await Promise.allSettled(['a', 'b', 'c', 'd', 'e', 'f'].map((tag) => ch.insert('grouped', batch(tag), NAMES, { format: 'RowBinary', coalesce: true })));
    expect(outcomes.map((o) => o.status)).toEqual(Array(6).fill('fulfilled'));
    expect(await parts()).toBe(2);
    // without coalesce: one part per call
    await Promise.all(['g', 'h', 'i'].map((tag) => ch.insert('grouped', batch(tag), NAMES, { format: 'RowBinary' })));
    expect(await parts()).toBe(5);
    // a bad row fails its own call before it joins; bytes the server refuses fail only the call that sent them
    const garbage = new RowBinaryBytes(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), COLUMNS.length - 1);
    const mixed = await Promise.allSettled([
      ch.insert('grouped', batch('j'), NAMES, { format: 'RowBinary', coalesce: true }),
      ch.insert('grouped', [row('k-bad', { u32: -1 })], NAMES, { format: 'RowBinary', coalesce: true }),
      ch.insert('grouped', batch('l'), NAMES, { format: 'RowBinary', coalesce: true }),
      ch.insert('grouped', [{ ...row('m-bad'), at: garbage }], NAMES, { format: 'RowBinary', coalesce: true }),
      ch.insert('grouped', batch('n'), NAMES, { format: 'RowBinary', coalesce: true }),
    ]);
    expect(mixed.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
    expect((mixed[1] as PromiseRejectedResult).reason).toBeInstanceOf(InvalidRowError);
    expect((mixed[3] as PromiseRejectedResult).reason).toBeInstanceOf(ClickHouseQueryError);
    const landed = await ch.query<{ tag: string; n: string }>(sql`SELECT substring(id, 1, 1) AS tag, count() AS n FROM grouped GROUP BY tag ORDER BY tag`);
    expect(landed).toEqual('abcdefghijln'.split('').map((tag) => ({ tag, n: '50' })));
  });

  it('lands RowBinaryBytes as the values they encode; prepareInsert gives the types they must match, or null', async () => {
    expect(await ch.prepareInsert('as_binary', NAMES)).toEqual(COLUMNS);
    expect(await ch.prepareInsert('odd', ['id', 'maybe'])).toBeNull();
    const source = row('pre', { tags: ['ü', 'x'.repeat(300)] });
    const tail = compileRowBinary(COLUMNS.slice(5)).encode([source]);
    await ch.insert('as_binary', [{ ...row('pre'), i32: new RowBinaryBytes(tail, COLUMNS.length - 5), u32: 'unread' }], NAMES, { format: 'RowBinary' });
    await ch.insert('as_json', [source], NAMES);
    const read = (table: string): Promise<unknown[]> => ch.query(sql`SELECT ${sql.raw(NAMES.join(', '))} FROM ${sql.id(table)} WHERE id = 'pre'`);
    const [json, binary] = await Promise.all([read('as_json'), read('as_binary')]);
    expect(binary).toHaveLength(1);
    expect(binary).toEqual(json);
    // a JSONEachRow insert cannot take them, and says why
    await expect(ch.insert('odd', [{ id: 'c', maybe: new RowBinaryBytes(tail, 1) }], ['id', 'maybe'], { format: 'RowBinary' })).rejects.toThrow(
      /column maybe: RowBinaryBytes need a RowBinary insert/,
    );
  });
});
