// Buffers rows and inserts them in batches: when `maxRows` are buffered, `maxDelayMs` after a row arrived,
// or when asked to flush. One INSERT is in flight at a time, so rows land in the order they were written.
// While ClickHouse is unavailable an insert is retried with backoff; when the writer gives up, the rows stay
// buffered and the failure goes to whoever is waiting (flush, a blocked write, or onError) — never silently.
import { addRetryDefaults, backoffDelay, type RetryPolicy } from './backoff.js';
import type { ClickHouse } from './clickhouse.js';
import { ClickHouseUnavailableError, WriterClosedError, WriterGaveUpError } from './errors.js';
import { toJsonEachRow } from './json-each-row.js';
import { sqlIdentifier } from './sql.js';

export interface BatchedWriterOptions<Row extends object> {
  clickhouse: ClickHouse;
  /** Table in the connection's database (`name`) or another one (`db.name`). */
  table: string;
  /** Columns inserted; every row must have a value for each (undefined is an InvalidRowError). */
  columns: readonly (keyof Row & string)[];
  /** Insert as soon as this many rows are buffered; also the most rows one INSERT carries. @default 10000 */
  maxRows?: number;
  /** Insert at the latest this long after a row was written. @default 1000 */
  maxDelayMs?: number;
  /** Backpressure: `write()` waits while this many rows are buffered. @default 4 * maxRows */
  maxBufferedRows?: number;
  /** Retries of one INSERT while ClickHouse is unavailable; `maxElapsedMs` is when the writer gives up. */
  retry?: Partial<RetryPolicy>;
  /**
   * Called when an insert that no `flush()` is waiting for (started by size or time) gives up. The rows stay
   * buffered and are tried again after `max(maxDelayMs, retry.maxDelayMs)`. @default no-op
   */
  onError?: (error: WriterGaveUpError) => void;
}

export interface BatchedWriter<Row extends object> {
  /** Buffers one row; waits while the buffer is full. Rejects with WriterGaveUpError if the writer gives up meanwhile. */
  write(row: Row): Promise<void>;
  /**
   * Buffers rows in order, waiting for room as needed. Every row is validated first, so an InvalidRowError
   * buffers none; a WriterGaveUpError says in `acceptedRows` how many were buffered.
   */
  writeMany(rows: readonly Row[]): Promise<void>;
  /**
   * Resolves once every row written before the call is inserted. Rejects with WriterGaveUpError when an insert
   * fails for good (permanent error, or unavailable past `retry.maxElapsedMs`); the rows stay buffered, and
   * calling flush() again retries them.
   */
  flush(): Promise<void>;
  /** Refuses further writes and flushes. Rows that cannot be inserted stay buffered and the promise rejects. */
  close(): Promise<void>;
  /** Rows written but not inserted yet (including an INSERT in flight). */
  readonly bufferedRows: number;
}

interface Waiter {
  resolve(): void;
  reject(error: WriterGaveUpError): void;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

class Writer<Row extends object> implements BatchedWriter<Row> {
  private readonly maxRows: number;
  private readonly maxDelayMs: number;
  private readonly maxBufferedRows: number;
  private readonly retry: RetryPolicy;
  private readonly columns: readonly string[];

  // buffer[0] is row number `inserted`; an INSERT in flight reads from the front and removes its rows only
  // once it succeeded, so a failure has nothing to put back.
  private readonly buffer: Record<string, unknown>[] = [];
  private accepted = 0;
  private inserted = 0;
  // Rows with a number below this must be inserted now (a flush asked for them, or their delay ran out).
  private dueUpTo = 0;
  private flushWaiters: (Waiter & { target: number })[] = [];
  private spaceWaiters: Waiter[] = [];
  private pumping = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: BatchedWriterOptions<Row>) {
    this.maxRows = options.maxRows ?? 10_000;
    this.maxDelayMs = options.maxDelayMs ?? 1_000;
    this.maxBufferedRows = options.maxBufferedRows ?? 4 * this.maxRows;
    this.retry = addRetryDefaults(options.retry);
    this.columns = options.columns;
    if (!(this.maxRows >= 1) || !(this.maxDelayMs >= 0) || !(this.maxBufferedRows >= this.maxRows)) {
      throw new RangeError('batched writer needs maxRows >= 1, maxDelayMs >= 0 and maxBufferedRows >= maxRows');
    }
    options.table.split('.').forEach(sqlIdentifier);
    this.columns.forEach(sqlIdentifier);
  }

  get bufferedRows(): number {
    return this.buffer.length;
  }

  write(row: Row): Promise<void> {
    return this.writeMany([row]);
  }

  async writeMany(rows: readonly Row[]): Promise<void> {
    if (this.closed) throw new WriterClosedError(`writer for ${this.options.table} is closed`);
    // Converting copies the rows, so a caller mutating them later cannot change what gets inserted.
    const converted = rows.map((row) => toJsonEachRow(row, this.columns));
    let done = 0;
    while (done < converted.length) {
      const room = this.maxBufferedRows - this.buffer.length;
      if (room <= 0) {
        try {
          await new Promise<void>((resolve, reject) => this.spaceWaiters.push({ resolve, reject }));
        } catch (err) {
          const gaveUp = err as WriterGaveUpError;
          throw new WriterGaveUpError(gaveUp.message, {
            cause: gaveUp.cause,
            bufferedRows: this.buffer.length,
            acceptedRows: done,
          });
        }
        continue;
      }
      const chunk = converted.slice(done, done + room);
      this.buffer.push(...chunk);
      this.accepted += chunk.length;
      done += chunk.length;
      this.schedule();
    }
  }

  flush(): Promise<void> {
    if (this.inserted === this.accepted) return Promise.resolve();
    const target = this.accepted;
    this.dueUpTo = Math.max(this.dueUpTo, target);
    const done = new Promise<void>((resolve, reject) => this.flushWaiters.push({ target, resolve, reject }));
    this.startPump();
    return done;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.buffer.length >= this.maxRows) {
      this.startPump();
    } else if (!this.pumping && this.timer === undefined) {
      this.armTimer(this.maxDelayMs);
    }
  }

  private armTimer(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.dueUpTo = Math.max(this.dueUpTo, this.accepted);
      this.startPump();
    }, delayMs);
  }

  private startPump(): void {
    if (this.pumping) return;
    this.pumping = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    void this.pump();
  }

  private nextBatchSize(): number {
    if (this.buffer.length >= this.maxRows) return this.maxRows;
    return Math.min(this.maxRows, Math.max(0, this.dueUpTo - this.inserted), this.buffer.length);
  }

  private async pump(): Promise<void> {
    let failure: unknown;
    for (let size = this.nextBatchSize(); size > 0; size = this.nextBatchSize()) {
      try {
        await this.insertWithRetry(this.buffer.slice(0, size));
      } catch (err) {
        failure = err;
        break;
      }
      this.buffer.splice(0, size);
      this.inserted += size;
      const satisfied = this.flushWaiters.filter((w) => w.target <= this.inserted);
      this.flushWaiters = this.flushWaiters.filter((w) => w.target > this.inserted);
      satisfied.forEach((w) => w.resolve());
      if (this.buffer.length < this.maxBufferedRows) this.releaseSpaceWaiters((w) => w.resolve());
    }
    this.pumping = false;
    if (failure !== undefined) {
      this.giveUp(failure);
    } else if (this.buffer.length > 0 && this.timer === undefined) {
      // Rows written during the last insert that were not due yet wait for their own delay.
      this.armTimer(this.maxDelayMs);
    }
  }

  private giveUp(cause: unknown): void {
    const reason =
      cause instanceof ClickHouseUnavailableError
        ? `ClickHouse stayed unavailable for ${this.retry.maxElapsedMs} ms`
        : 'ClickHouse refused the insert';
    const error = new WriterGaveUpError(
      `batched writer for ${this.options.table}: ${reason}; ${this.buffer.length} rows stay buffered for the next flush: ${
        (cause as Error).message
      }`,
      { cause, bufferedRows: this.buffer.length },
    );
    const waiters = this.flushWaiters;
    this.flushWaiters = [];
    waiters.forEach((w) => w.reject(error));
    this.releaseSpaceWaiters((w) => w.reject(error));
    if (waiters.length === 0) this.options.onError?.(error);
    // Nobody may call flush() again (a background writer), so the rows get another chance on their own;
    // after close() only an explicit flush() retries, so the timer does not keep the process alive.
    if (!this.closed) this.armTimer(Math.max(this.maxDelayMs, this.retry.maxDelayMs));
  }

  private releaseSpaceWaiters(release: (w: Waiter) => void): void {
    const waiters = this.spaceWaiters;
    this.spaceWaiters = [];
    waiters.forEach(release);
  }

  private async insertWithRetry(rows: Record<string, unknown>[]): Promise<void> {
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      try {
        await this.options.clickhouse.insert(this.options.table, rows, this.columns);
        return;
      } catch (err) {
        if (!(err instanceof ClickHouseUnavailableError)) throw err;
        const delay = backoffDelay(attempt, this.retry);
        if (Date.now() - started + delay > this.retry.maxElapsedMs) throw err;
        await sleep(delay);
      }
    }
  }
}

/**
 * Creates a writer that batches rows into INSERT ... FORMAT JSONEachRow statements. Delivery is at least
 * once: an INSERT that timed out may have landed and is sent again, so tables written this way should
 * deduplicate (ReplacingMergeTree keyed by a row id). Its timer keeps the process alive while rows are
 * buffered; call close() before exiting.
 */
export function createBatchedWriter<Row extends object>(options: BatchedWriterOptions<Row>): BatchedWriter<Row> {
  return new Writer<Row>(options);
}
