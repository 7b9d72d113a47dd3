// A job kind for the runtime's tests: counts from 0 to `to - 1`, appending each number to `log` (one line
// each) and checkpointing every `every` numbers, so a test can see where a resumed job started again.
import { existsSync, readFileSync } from 'node:fs';
import { appendFile, writeFile } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceError } from '@select/platform';
import type { JobKind } from './job-kind.js';

export interface CountRequest {
  to: number;
  log: string;
  every?: number;
  stepMs?: number;
  failAt?: number;
}

export interface CountState {
  next: number;
}

export const countingJob: JobKind<CountRequest, CountState> = {
  kind: 'count',
  unit: 'numbers',
  normalize(request) {
    if (!Number.isInteger(request.to) || request.to < 1) throw ServiceError.invalidArgument(`to must be a whole number of at least 1, got ${request.to}`);
    if (!isAbsolute(request.log)) throw ServiceError.invalidArgument(`log must be an absolute path, got "${request.log}"`);
    return { to: request.to, log: request.log, every: request.every ?? 5, stepMs: request.stepMs ?? 2, failAt: request.failAt ?? -1 };
  },
  outputUri: (request) => request.log,
  initialTotal: (request) => request.to,
  resumeMessage: (state) => `resuming at ${state.next}`,
  async run(ctx) {
    const { to, log, every, stepMs, failAt } = ctx.request;
    let next = ctx.resumeState?.next ?? 0;
    // Numbers written after the checkpoint (a crash between the write and the checkpoint) are written again.
    const kept = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).slice(0, next) : [];
    await writeFile(log, kept.map((n) => `${n}\n`).join(''));
    let lines = '';
    const flush = async (): Promise<void> => {
      if (lines) await appendFile(log, lines);
      lines = '';
    };
    while (next < to) {
      if (ctx.signal.aborted) {
        await flush();
        await ctx.checkpoint({ next });
        throw ctx.signal.reason;
      }
      if (next === failAt) throw new Error(`cannot count past ${failAt}`);
      lines += `${next}\n`;
      next++;
      ctx.progress(next, to, `counted to ${next}`);
      if (next % every! === 0) {
        await flush();
        await ctx.checkpoint({ next });
      }
      await sleep(stepMs);
    }
    await flush();
    return `counted ${to} numbers`;
  },
};
