/**
 * Maps an async source with up to `concurrency` calls of `fn` in flight and yields the results in
 * source order, so parallel work (image decoding on libuv threads) never reorders a stream whose
 * cursors must stay monotonic. `fn` should report failures in its result; a rejection ends the stream.
 */
export async function* mapOrdered<T, R>(
  source: AsyncIterable<T>,
  fn: (item: T) => Promise<R>,
  concurrency: number,
): AsyncGenerator<R> {
  const iterator = source[Symbol.asyncIterator]();
  const window: Promise<R>[] = [];
  let exhausted = false;
  try {
    for (;;) {
      while (!exhausted && window.length < concurrency) {
        const next = await iterator.next();
        if (next.done === true) {
          exhausted = true;
          break;
        }
        const pending = fn(next.value);
        // Awaited in order below; the no-op handler keeps a rejection that waits its turn from being
        // reported as unhandled.
        pending.catch(() => undefined);
        window.push(pending);
      }
      const head = window.shift();
      if (head === undefined) return;
      yield await head;
    }
  } finally {
    if (!exhausted) await iterator.return?.();
  }
}
