import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBatchedWriter } from './batched-writer.js';
import { waitForClickHouse, type ClickHouse } from './clickhouse.js';
import { holdClickHouseUp, withClickHouseOutage } from '@select/testing';
import { ClickHouseQueryError, InvalidRowError, WriterClosedError, WriterGaveUpError } from './errors.js';
import { sql } from './sql.js';
import { createTestDatabase } from './test-database.test-util.js';

interface Row {
  id: number;
  name: string;
  score: number;
}
const COLUMNS = ['id', 'name', 'score'] as const;
const rows = (from: number, count: number): Row[] =>
  Array.from({ length: count }, (_, i) => ({ id: from + i, name: `row ${from + i}`, score: (from + i) / 2 }));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('batched writer', () => {
  let ch: ClickHouse;
  let drop: () => Promise<void>;

  // The outage test below must not stop the server while another test holds it, so every phase that needs
  // ClickHouse up holds it explicitly.
  beforeAll(async () => {
    const release = await holdClickHouseUp();
    ({ ch, drop } = await createTestDatabase());
    release();
  });
  afterAll(async () => {
    const release = await holdClickHouseUp();
    await drop?.();
    release();
  });

  const createTable = (name: string): Promise<void> =>
    ch.command(sql`CREATE TABLE ${sql.id(name)} (id UInt32, name String, score Float64) ENGINE = MergeTree() ORDER BY id`);
  const count = async (table: string): Promise<number> =>
    Number((await ch.query<{ n: string }>(sql`SELECT count() AS n FROM ${sql.id(table)}`))[0]?.n);
  const ids = async (table: string): Promise<number[]> =>
    (await ch.query<{ id: number }>(sql`SELECT id FROM ${sql.id(table)} ORDER BY id`)).map((r) => r.id);

  describe('with ClickHouse up', () => {
    let release: () => void;
    beforeAll(async () => {
      release = await holdClickHouseUp();
    });
    afterAll(() => release?.());

    it('inserts as soon as maxRows are buffered, without waiting for the delay', async () => {
      await createTable('by_size');
      const writer = createBatchedWriter<Row>({ clickhouse: ch, table: 'by_size', columns: COLUMNS, maxRows: 100, maxDelayMs: 60_000 });
      await writer.writeMany(rows(0, 250));
      await expect.poll(() => count('by_size'), { timeout: 5_000 }).toBe(200);
      expect(writer.bufferedRows).toBe(50);
      await writer.close();
      expect(await ids('by_size')).toEqual(rows(0, 250).map((r) => r.id));
    });

    it('inserts maxDelayMs after a row arrived when the batch stays small', async () => {
      await createTable('by_time');
      const writer = createBatchedWriter<Row>({ clickhouse: ch, table: 'by_time', columns: COLUMNS, maxRows: 1000, maxDelayMs: 200 });
      await writer.write({ id: 1, name: 'only', score: Number.NaN });
      expect(await count('by_time')).toBe(0);
      await expect.poll(() => count('by_time'), { timeout: 5_000 }).toBe(1);
      const stored = await ch.query<{ nan: number }>(sql`SELECT isNaN(score) AS nan FROM by_time`);
      expect(stored).toEqual([{ nan: 1 }]);
      await writer.close();
      await expect(writer.write({ id: 2, name: 'late', score: 0 })).rejects.toThrow(WriterClosedError);
    });

    it('keeps the rows of a refused insert and inserts them once the problem is fixed', async () => {
      const writer = createBatchedWriter<Row>({ clickhouse: ch, table: 'created_later', columns: COLUMNS, maxRows: 10, maxDelayMs: 60_000 });
      await writer.writeMany(rows(0, 25));
      const err = await writer.flush().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WriterGaveUpError);
      expect((err as WriterGaveUpError).cause).toBeInstanceOf(ClickHouseQueryError);
      expect(writer.bufferedRows).toBe(25);
      await createTable('created_later');
      await writer.flush();
      expect(await ids('created_later')).toEqual(rows(0, 25).map((r) => r.id));
      await writer.close();
    });

    it('refuses a row without a value for every column and buffers nothing of that call', async () => {
      const writer = createBatchedWriter<Row>({ clickhouse: ch, table: 'by_size', columns: COLUMNS });
      const bad = [{ id: 1, name: 'ok', score: 1 }, { id: 2, name: 'missing score' } as Row];
      await expect(writer.writeMany(bad)).rejects.toThrow(InvalidRowError);
      expect(writer.bufferedRows).toBe(0);
      await writer.close();
    });
  });

  it('retries while ClickHouse is down, holds writers back when full, gives up only when told to, and loses nothing', async () => {
    const release = await holdClickHouseUp();
    await createTable('patient');
    await createTable('impatient');
    release();

    const patient = createBatchedWriter<Row>({
      clickhouse: ch,
      table: 'patient',
      columns: COLUMNS,
      maxRows: 50,
      maxDelayMs: 50,
      maxBufferedRows: 100,
      retry: { initialDelayMs: 50, maxDelayMs: 500, maxElapsedMs: 120_000 },
    });
    const impatient = createBatchedWriter<Row>({
      clickhouse: ch,
      table: 'impatient',
      columns: COLUMNS,
      maxRows: 50,
      retry: { initialDelayMs: 50, maxDelayMs: 200, maxElapsedMs: 500 },
    });

    await withClickHouseOutage(async ({ stop, start }) => {
      await stop();
      await patient.writeMany(rows(0, 100)); // fills the buffer exactly
      let blockedWriteDone = false;
      const blockedWrite = patient.write({ id: 100, name: 'waits for room', score: 1 }).then(() => {
        blockedWriteDone = true;
      });
      const patientFlush = patient.flush();

      await impatient.writeMany(rows(0, 30));
      const gaveUp = await impatient.flush().catch((e: unknown) => e);
      expect(gaveUp).toBeInstanceOf(WriterGaveUpError);
      expect(impatient.bufferedRows).toBe(30);

      await sleep(300);
      expect(blockedWriteDone).toBe(false);
      expect(patient.bufferedRows).toBe(100);

      await start();
      await waitForClickHouse(ch, { timeoutMs: 60_000 });
      await patientFlush;
      await blockedWrite;
      await impatient.flush();
    });

    await patient.close();
    await impatient.close();
    const release2 = await holdClickHouseUp();
    try {
      expect(await ids('patient')).toEqual(rows(0, 101).map((r) => r.id));
      expect(await ids('impatient')).toEqual(rows(0, 30).map((r) => r.id));
    } finally {
      release2();
    }
  }, 120_000);
});
