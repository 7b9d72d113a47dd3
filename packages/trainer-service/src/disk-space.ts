import { statfs } from 'node:fs/promises';
import { ServiceError } from '@select/platform';

/** Free bytes on the file system of `path`. */
export async function freeBytes(path: string): Promise<number> {
  const s = await statfs(path);
  return Number(s.bavail) * Number(s.bsize);
}

/** RESOURCE_EXHAUSTED when the file system of `path` has less than `minFree` bytes free. */
export async function requireFreeSpace(path: string, minFree: number, what: string): Promise<void> {
  if (minFree <= 0) return;
  const free = await freeBytes(path);
  if (free < minFree) {
    throw ServiceError.resourceExhausted(
      `disk full: ${path} has ${(free / 2 ** 20).toFixed(0)} MiB free, less than TRAINER_MIN_FREE_BYTES (${(minFree / 2 ** 20).toFixed(0)} MiB) — ${what}; ` +
        'free space and resume the run (its state so far is kept)',
    );
  }
}
