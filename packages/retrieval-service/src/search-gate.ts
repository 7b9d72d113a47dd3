import { ServiceError } from '@select/platform';

/**
 * Lets a fixed number of searches run at once and a bounded number wait. Native searches run on libuv's
 * worker threads, which the write-ahead log's fsyncs share: capping searches keeps a slot free for them,
 * and the bound on waiters turns overload into RESOURCE_EXHAUSTED instead of unbounded memory.
 */
export class SearchGate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly maxWaiting: number,
  ) {}

  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.running < this.concurrency) this.running++;
    else {
      if (this.waiting.length >= this.maxWaiting) {
        throw ServiceError.resourceExhausted(
          `${this.running} searches are running and ${this.waiting.length} waiting; retry later`,
        );
      }
      await new Promise<void>((resolve, reject) => {
        const wake = () => {
          signal?.removeEventListener('abort', abort);
          resolve();
        };
        const abort = () => {
          const at = this.waiting.indexOf(wake);
          if (at >= 0) this.waiting.splice(at, 1);
          reject(signal?.reason);
        };
        signal?.addEventListener('abort', abort, { once: true });
        this.waiting.push(wake);
      });
    }
    // From here this call holds a slot; on the way out it is handed to the next waiter, if any.
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
