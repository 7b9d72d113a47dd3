import { ClosedError, DeadlineExceededError, QueueFullError } from './errors.js';

export interface DynamicBatcherOptions<I, O> {
  /** Names the queue in errors and logs, e.g. 'clip-vit-b32 images'. */
  name: string;
  /** Runs one batch; must resolve with one result per item, in order (an Error in a slot fails that item only). */
  runBatch: (items: I[]) => Promise<Array<O | Error>>;
  /** @default 32 */
  maxBatch?: number;
  /**
   * How long the oldest queued item may wait for companions before a partial batch runs anyway.
   * @default 5
   */
  maxWaitMs?: number;
  /**
   * Items that may wait (not counting running batches); past this `submit` rejects with QueueFullError.
   * @default 1024
   */
  maxQueue?: number;
  /**
   * Batches run at once; match it to the workers behind `runBatch`.
   * @default 1
   */
  concurrency?: number;
  /**
   * The size an item costs in a batch whose rows are padded to the longest (a text's token count). When given
   * and more items wait than the next batch takes (`maxBatch`, or its share with `balance`), the oldest four
   * batches' worth of waiting items are sorted by size and cut into batches of that many from the smallest up, and
   * the batch holding the oldest item runs: items of similar
   * size share a batch and pad less, the number of batches is the same as in arrival order, and the oldest
   * item always runs next. Results still come back to each item's own caller.
   */
  sizeOf?: (item: I) => number;
  /**
   * With `concurrency` above 1, a batch that is due (a full `maxBatch` waits, or the oldest waited `maxWaitMs`)
   * takes an even share of the queue, ⌈waiting / concurrency⌉ items up to `maxBatch`, and idle workers take the
   * same share at once: 32 items on two idle workers run as 16 + 16, not 32 alone, and when a worker comes free
   * near the end of a stream it takes half of what is left instead of all of it, so the others are not left idle
   * while it runs a full batch. A queue of `concurrency × maxBatch` or more still runs full batches. False keeps
   * every batch as large as the queue allows (the behaviour before 2026-12-07).
   * @default true
   */
  balance?: boolean;
}

/** @internal Options with every default filled in. */
export function addBatcherDefaults<I, O>(options: DynamicBatcherOptions<I, O>): Required<Omit<DynamicBatcherOptions<I, O>, 'sizeOf'>> & Pick<DynamicBatcherOptions<I, O>, 'sizeOf'> {
  return { maxBatch: 32, maxWaitMs: 5, maxQueue: 1024, concurrency: 1, balance: true, ...stripUndefined(options) };
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export interface SubmitOptions {
  /** Epoch ms after which the item is dropped if it has not started running. */
  deadline?: number;
  /** Aborting removes the item if it is still queued. */
  signal?: AbortSignal;
}

interface Entry<I, O> {
  item: I;
  enqueuedAt: number;
  deadline: number;
  resolve(value: O): void;
  reject(err: Error): void;
  cleanup(): void;
}

/**
 * Groups items from concurrent callers into batches: a batch runs as soon as `maxBatch` items wait, or when
 * the oldest has waited `maxWaitMs`, whichever comes first, with at most `concurrency` batches running. The
 * queue is bounded, so a flood is refused with QueueFullError (RESOURCE_EXHAUSTED) instead of growing memory;
 * items whose deadline passes while queued are dropped without running.
 */
export class DynamicBatcher<I, O> {
  private readonly opts: ReturnType<typeof addBatcherDefaults<I, O>>;
  private readonly queue: Array<Entry<I, O>> = [];
  private running = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly idleWaiters: Array<() => void> = [];

  constructor(options: DynamicBatcherOptions<I, O>) {
    this.opts = addBatcherDefaults(options);
  }

  /** Queue one item; resolves with its result once its batch has run. */
  submit(item: I, options: SubmitOptions = {}): Promise<O> {
    if (this.closed) return Promise.reject(new ClosedError(`the ${this.opts.name} batcher`));
    if (this.queue.length >= this.opts.maxQueue) return Promise.reject(new QueueFullError(this.opts.name, this.opts.maxQueue));
    if (options.signal?.aborted) return Promise.reject(abortReason(options.signal));
    return new Promise<O>((resolve, reject) => {
      const entry: Entry<I, O> = {
        item,
        enqueuedAt: Date.now(),
        deadline: options.deadline ?? Infinity,
        resolve,
        reject,
        cleanup: () => undefined,
      };
      const signal = options.signal;
      if (signal) {
        const onAbort = () => {
          const i = this.queue.indexOf(entry);
          if (i >= 0) {
            this.queue.splice(i, 1);
            reject(abortReason(signal));
          }
        };
        signal.addEventListener('abort', onAbort, { once: true });
        entry.cleanup = () => signal.removeEventListener('abort', onAbort);
      }
      this.queue.push(entry);
      this.schedule();
    });
  }

  /** Items waiting and batches running, for metrics and tests. */
  get depth(): { queued: number; running: number } {
    return { queued: this.queue.length, running: this.running };
  }

  /** Refuse new items, let queued and running ones finish. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.schedule(true);
    while (this.running > 0 || this.queue.length > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  private schedule(flush = false): void {
    // the size of every batch this pass starts: set when the first one is due, so a split fills the idle workers at once
    let size = 0;
    while (this.running < this.opts.concurrency && this.queue.length > 0) {
      if (size === 0) {
        const oldest = this.queue[0]!;
        const waited = Date.now() - oldest.enqueuedAt;
        if (!flush && this.queue.length < this.opts.maxBatch && waited < this.opts.maxWaitMs) {
          if (!this.timer) {
            this.timer = setTimeout(() => {
              this.timer = null;
              this.schedule(this.closed);
            }, this.opts.maxWaitMs - waited);
          }
          return;
        }
        size = this.batchSize();
      }
      this.dispatch(this.takeBatch(size));
    }
  }

  /** Items per batch when one is due: `maxBatch`, or with `balance` an even share of a queue too short to fill every worker. */
  private batchSize(): number {
    const { maxBatch, concurrency, balance } = this.opts;
    if (!balance || concurrency <= 1) return maxBatch;
    return Math.min(maxBatch, Math.ceil(this.queue.length / concurrency));
  }

  /** The next batch: the oldest `size` items, or with `sizeOf` the size-sorted batch holding the oldest. */
  private takeBatch(size: number): Array<Entry<I, O>> {
    const { sizeOf } = this.opts;
    if (!sizeOf || this.queue.length <= size) return this.queue.splice(0, size);
    // only the oldest 4 batches' worth are candidates; the queue behind them stays as it is
    const head = this.queue.slice(0, 4 * size);
    // head positions sorted by size, ties by age, so equal sizes keep arrival order
    const sizes = head.map((e) => sizeOf(e.item));
    const order = sizes.map((_, i) => i).sort((a, b) => sizes[a]! - sizes[b]! || a - b);
    const start = Math.floor(order.indexOf(0) / size) * size;
    const chosen = new Set(order.slice(start, start + size));
    this.queue.splice(0, head.length, ...head.filter((_, i) => !chosen.has(i)));
    return head.filter((_, i) => chosen.has(i));
  }

  private dispatch(batch: Array<Entry<I, O>>): void {
    const now = Date.now();
    const live: Array<Entry<I, O>> = [];
    for (const e of batch) {
      e.cleanup();
      if (e.deadline <= now) e.reject(new DeadlineExceededError(this.opts.name, now - e.enqueuedAt));
      else live.push(e);
    }
    if (live.length === 0) return;
    this.running++;
    this.opts
      .runBatch(live.map((e) => e.item))
      .then(
        (results) => {
          live.forEach((e, i) => {
            const r = results[i];
            if (r instanceof Error) e.reject(r);
            else if (i >= results.length) e.reject(new Error(`batch of ${live.length} returned ${results.length} results`));
            else e.resolve(r as O);
          });
        },
        (err: unknown) => {
          const error = err instanceof Error ? err : new Error(String(err));
          for (const e of live) e.reject(error);
        },
      )
      .finally(() => {
        this.running--;
        this.schedule(this.closed);
        if (this.running === 0 && this.queue.length === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
  }
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted');
}
