import { describe, expect, it } from 'vitest';
import { DynamicBatcher } from './dynamic-batcher.js';
import { ClosedError, DeadlineExceededError, QueueFullError } from './errors.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function recordingBatcher(opts: {
  maxBatch?: number;
  maxWaitMs?: number;
  maxQueue?: number;
  concurrency?: number;
  balance?: boolean;
  runMs?: number;
  /** Run time of a batch from its items, instead of runMs. */
  batchMs?: (items: number[]) => number;
  sizeOf?: (x: number) => number;
}) {
  const batches: number[][] = [];
  let running = 0;
  const overlap = { max: 0 };
  const batcher = new DynamicBatcher<number, number>({
    name: 'test',
    ...opts,
    runBatch: async (items) => {
      batches.push(items);
      overlap.max = Math.max(overlap.max, ++running);
      await sleep(opts.batchMs ? opts.batchMs(items) : (opts.runMs ?? 0));
      running--;
      return items.map((x) => (x < 0 ? new Error(`negative ${x}`) : x * 10));
    },
  });
  return { batcher, batches, overlap };
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('DynamicBatcher', () => {
  it('groups concurrent callers into one batch and answers each in order', async () => {
    const { batcher, batches } = recordingBatcher({ maxBatch: 8, maxWaitMs: 20 });
    const results = await Promise.all([1, 2, 3, 4, 5].map((x) => batcher.submit(x)));
    expect(results).toEqual([10, 20, 30, 40, 50]);
    expect(batches).toEqual([[1, 2, 3, 4, 5]]);
  });

  it('runs a full batch at once and never exceeds maxBatch', async () => {
    const { batcher, batches } = recordingBatcher({ maxBatch: 4, maxWaitMs: 10_000 });
    const started = Date.now();
    await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((x) => batcher.submit(x)));
    expect(Date.now() - started).toBeLessThan(1000);
    expect(batches).toEqual([
      [1, 2, 3, 4],
      [5, 6, 7, 8],
    ]);
  });

  it('runs a partial batch once the oldest item has waited maxWaitMs', async () => {
    const { batcher, batches } = recordingBatcher({ maxBatch: 64, maxWaitMs: 30 });
    const started = Date.now();
    await batcher.submit(1);
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(25);
    expect(waited).toBeLessThan(500);
    expect(batches).toEqual([[1]]);
  });

  it('with sizeOf, batches items of similar size together, oldest first, as many batches as in arrival order', async () => {
    // the first batch (0) runs alone while 8 items of mixed sizes queue behind it
    const { batcher, batches } = recordingBatcher({ maxBatch: 4, maxWaitMs: 0, runMs: 30, sizeOf: (x) => x });
    const first = batcher.submit(0);
    await sleep(5);
    const sizes = [7, 1, 8, 2, 6, 3, 5, 4];
    const results = await Promise.all([first, ...sizes.map((x) => batcher.submit(x))]);
    expect(results).toEqual([0, ...sizes.map((x) => x * 10)]);
    // 7 is the oldest waiting: the larger half runs first, then the smaller half
    expect(batches.map((b) => [...b].sort((a, c) => a - c))).toEqual([[0], [5, 6, 7, 8], [1, 2, 3, 4]]);
    // a batch hands items over in arrival order
    expect(batches[1]).toEqual([7, 8, 6, 5]);
  });

  it('with sizeOf, never lets younger items pass the oldest one', async () => {
    const { batcher, batches } = recordingBatcher({ maxBatch: 2, maxWaitMs: 0, runMs: 20, sizeOf: (x) => x });
    const first = batcher.submit(100);
    await sleep(5);
    // the oldest waiting item (50) is the largest; small ones keep arriving
    const waiting = [50, 1, 2, 3, 4, 5, 6].map((x) => batcher.submit(x));
    await Promise.all([first, ...waiting]);
    expect(batches[1]).toContain(50);
    expect(batches.flat().sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 50, 100]);
    expect(batches).toHaveLength(5);
  });

  it('with concurrency 2, splits a full batch across both idle workers at once', async () => {
    const split = recordingBatcher({ maxBatch: 32, maxWaitMs: 10_000, concurrency: 2, runMs: 40 });
    const whole = recordingBatcher({ maxBatch: 32, maxWaitMs: 10_000, concurrency: 2, runMs: 40, balance: false });
    const items = range(0, 32);
    expect(await Promise.all(items.map((x) => split.batcher.submit(x)))).toEqual(items.map((x) => x * 10));
    await Promise.all(items.map((x) => whole.batcher.submit(x)));
    expect(split.batches).toEqual([range(0, 16), range(16, 32)]);
    expect(split.overlap.max).toBe(2);
    expect(whole.batches).toEqual([items]);
  });

  it('with concurrency 2, a partial batch due after maxWaitMs is shared by both idle workers', async () => {
    const { batcher, batches, overlap } = recordingBatcher({ maxBatch: 32, maxWaitMs: 20, concurrency: 2, runMs: 40 });
    await Promise.all([1, 2, 3].map((x) => batcher.submit(x)));
    expect(batches).toEqual([[1, 2], [3]]);
    expect(overlap.max).toBe(2);
  });

  it('with concurrency 2, a worker coming free at the end takes half of what waits, not all of it', async () => {
    // item x runs x ms: 1000 holds one worker; the other finishes 50 and finds six items of ~20 ms waiting, takes
    // half, then half of the rest, and so on while the first worker stays busy
    const batchMs = (items: number[]) => items.reduce((a, b) => a + b, 0);
    const run = async (balance: boolean) => {
      const b = recordingBatcher({ maxBatch: 8, maxWaitMs: 0, concurrency: 2, balance, batchMs });
      const long = b.batcher.submit(1000);
      const short = b.batcher.submit(50);
      const tail = [20, 21, 22, 23, 24, 25].map((x) => b.batcher.submit(x));
      await Promise.all([long, short, ...tail]);
      return b.batches;
    };
    expect(await run(true)).toEqual([[1000], [50], [20, 21, 22], [23, 24], [25]]);
    expect(await run(false)).toEqual([[1000], [50], [20, 21, 22, 23, 24, 25]]);
  });

  it('fails only the item whose slot holds an Error', async () => {
    const { batcher } = recordingBatcher({ maxBatch: 8, maxWaitMs: 5 });
    const results = await Promise.allSettled([1, -2, 3].map((x) => batcher.submit(x)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('refuses items past maxQueue with QueueFullError while the worker is busy', async () => {
    const { batcher } = recordingBatcher({ maxBatch: 2, maxWaitMs: 0, maxQueue: 4, runMs: 100 });
    const first = batcher.submit(0); // running
    await sleep(5);
    const queued = [1, 2, 3, 4].map((x) => batcher.submit(x));
    await expect(batcher.submit(5)).rejects.toBeInstanceOf(QueueFullError);
    expect(await Promise.all([first, ...queued])).toEqual([0, 10, 20, 30, 40]);
  });

  it('drops items whose deadline passed while they waited', async () => {
    const { batcher, batches } = recordingBatcher({ maxBatch: 1, maxWaitMs: 0, runMs: 80 });
    const busy = batcher.submit(1);
    const late = batcher.submit(2, { deadline: Date.now() + 20 });
    await expect(late).rejects.toBeInstanceOf(DeadlineExceededError);
    await busy;
    expect(batches).toEqual([[1]]);
  });

  it('removes an aborted item from the queue', async () => {
    const { batcher, batches } = recordingBatcher({ maxBatch: 1, maxWaitMs: 0, runMs: 50 });
    const busy = batcher.submit(1);
    const controller = new AbortController();
    const aborted = batcher.submit(2, { signal: controller.signal });
    controller.abort(new Error('client went away'));
    await expect(aborted).rejects.toThrow('client went away');
    await busy;
    expect(batches).toEqual([[1]]);
  });

  it('finishes queued work on close and refuses new work', async () => {
    const { batcher } = recordingBatcher({ maxBatch: 2, maxWaitMs: 1000, runMs: 10 });
    const pending = [1, 2, 3].map((x) => batcher.submit(x));
    await batcher.close();
    expect(await Promise.all(pending)).toEqual([10, 20, 30]);
    await expect(batcher.submit(4)).rejects.toBeInstanceOf(ClosedError);
  });
});
