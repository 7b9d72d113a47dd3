import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, status as GrpcStatus } from '@select/platform';
import { afterAll, describe, expect, it } from 'vitest';
import { countingJob, type CountRequest } from './counting-job.test-util.js';
import { JobRuntime, type JobFile } from './job-runtime.js';
import type { JobStatus } from './job-kind.js';

const logger = createLogger({ service: 'jobs-test', level: 'silent' });
const made: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'jobs-'));
  made.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

async function openRuntime(dir: string, options: Partial<Parameters<typeof JobRuntime.open>[0]> = {}): Promise<JobRuntime> {
  const runtime = await JobRuntime.open({ dir, service: 'jobs-test', logger, progressIntervalMs: 20, ...options });
  return runtime.register(countingJob);
}

/** The numbers the counting job wrote, in order. */
function counted(log: string): number[] {
  return existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).map(Number) : [];
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('JobRuntime', () => {
  it('gives the same request the same id (key order does not matter) and reports a finished job instead of running it again', async () => {
    const dir = tempDir();
    const runtime = await openRuntime(dir);
    const log = join(dir, 'count.log');
    const first = await runtime.start<CountRequest>('count', { to: 12, log, every: 4 });
    expect(first).toMatchObject({ kind: 'count', unit: 'numbers', total: '12', outputUri: log });
    expect(first.jobId).toMatch(/^count-[0-9a-f]{24}$/);
    expect(await runtime.wait(first.jobId)).toMatchObject({ state: 'JOB_STATE_SUCCEEDED', done: '12', message: 'counted 12 numbers' });
    // Same request, other key order and defaults spelled out: same job, reported, not run again.
    const again = await runtime.start<CountRequest>('count', { every: 4, log, to: 12, stepMs: 2 });
    expect(again).toMatchObject({ jobId: first.jobId, state: 'JOB_STATE_SUCCEEDED', createdUnixMs: first.createdUnixMs });
    expect(counted(log)).toEqual(range(12));
    // Another request is another job.
    const other = await runtime.start<CountRequest>('count', { to: 13, log: join(dir, 'other.log') });
    expect(other.jobId).not.toBe(first.jobId);
    await runtime.wait(other.jobId);
    await runtime.close();
    // The state file is the documented format.
    const file = JSON.parse(readFileSync(join(dir, `${first.jobId}.json`), 'utf8')) as JobFile;
    expect(file).toMatchObject({ version: 1, request: { to: 12, log, every: 4 }, status: { state: 'JOB_STATE_SUCCEEDED' }, checkpoint: { state: { next: 12 }, done: '12' } });
  });

  it('runs a request started several times at once only once, and jobs up to `concurrency` side by side', async () => {
    const dir = tempDir();
    const runtime = await openRuntime(dir, { concurrency: 2 });
    const log = join(dir, 'same.log');
    const starts = await Promise.all([1, 2, 3].map(() => runtime.start<CountRequest>('count', { to: 30, log })));
    expect(new Set(starts.map((s) => s.jobId)).size).toBe(1);
    const other = await runtime.start<CountRequest>('count', { to: 30, log: join(dir, 'other.log') });
    expect(other.state).toBe('JOB_STATE_RUNNING');
    expect(runtime.list({ state: 'JOB_STATE_RUNNING' }).jobs).toHaveLength(2);
    await runtime.wait(starts[0]!.jobId);
    await runtime.wait(other.jobId);
    expect(counted(log)).toEqual(range(30));
    expect(runtime.list().jobs).toHaveLength(2);
    await runtime.close();
  });

  it('refuses a bad request with INVALID_ARGUMENT from normalize, before anything is written', async () => {
    const dir = tempDir();
    const runtime = await openRuntime(dir);
    await expect(runtime.start('count', { to: 0, log: join(dir, 'x') })).rejects.toMatchObject({ code: GrpcStatus.INVALID_ARGUMENT, message: expect.stringMatching(/to must be .* at least 1/) });
    await expect(runtime.start('count', { to: 3, log: 'relative.log' })).rejects.toThrow(/absolute path/);
    await expect(runtime.start('nope', {})).rejects.toMatchObject({ code: GrpcStatus.INVALID_ARGUMENT, message: expect.stringMatching(/kinds: count/) });
    expect(() => runtime.get('count-000')).toThrow(expect.objectContaining({ code: GrpcStatus.NOT_FOUND }) as Error);
    expect(readdirSync(dir)).toEqual([]);
    expect(runtime.list().jobs).toEqual([]);
    await runtime.close();
  });

  it('runs at most `concurrency` jobs; the next waits QUEUED until one ends', async () => {
    const dir = tempDir();
    const runtime = await openRuntime(dir, { concurrency: 1 });
    const a = await runtime.start<CountRequest>('count', { to: 40, log: join(dir, 'a.log'), stepMs: 5 });
    const b = await runtime.start<CountRequest>('count', { to: 5, log: join(dir, 'b.log') });
    expect(a.state).toBe('JOB_STATE_RUNNING');
    expect(b.state).toBe('JOB_STATE_QUEUED');
    expect(runtime.list({ state: 'JOB_STATE_QUEUED' }).jobs.map((j) => j.jobId)).toEqual([b.jobId]);
    // B's state file says QUEUED too: a restart now would start it.
    expect((JSON.parse(readFileSync(join(dir, `${b.jobId}.json`), 'utf8')) as JobFile).status.state).toBe('JOB_STATE_QUEUED');
    const states: string[] = [];
    for await (const s of runtime.watch(b.jobId)) {
      states.push(s.state);
      if (s.state === 'JOB_STATE_RUNNING') expect(runtime.get(a.jobId).state).toBe('JOB_STATE_SUCCEEDED');
    }
    expect(states[0]).toBe('JOB_STATE_QUEUED');
    expect(states.at(-1)).toBe('JOB_STATE_SUCCEEDED');
    expect(states).toContain('JOB_STATE_RUNNING');
    expect(counted(join(dir, 'a.log'))).toEqual(range(40));
    await runtime.close();
  });

  it('cancels a running job at its next safe point, and a queued one before it starts; starting again resumes', async () => {
    const dir = tempDir();
    const runtime = await openRuntime(dir, { concurrency: 1 });
    const log = join(dir, 'slow.log');
    const request = { to: 400, log, every: 10, stepMs: 5 };
    const slow = await runtime.start<CountRequest>('count', request);
    const queued = await runtime.start<CountRequest>('count', { to: 3, log: join(dir, 'q.log') });
    await until(() => Number(runtime.get(slow.jobId).done) >= 25, 'progress');
    expect(await runtime.cancel(queued.jobId)).toMatchObject({ state: 'JOB_STATE_CANCELLED' });
    const cancelled = await runtime.cancel(slow.jobId);
    expect(cancelled.state).toBe('JOB_STATE_CANCELLED');
    expect(cancelled.message).toMatch(/start the same request to resume/);
    const stoppedAt = counted(log).length;
    expect(stoppedAt).toBeGreaterThanOrEqual(25);
    expect(stoppedAt).toBeLessThan(400);
    expect(counted(join(dir, 'q.log'))).toEqual([]);
    // Cancelling a finished job reports it.
    expect((await runtime.cancel(queued.jobId)).state).toBe('JOB_STATE_CANCELLED');
    const resumed = await runtime.start<CountRequest>('count', request);
    expect(resumed).toMatchObject({ jobId: slow.jobId, state: 'JOB_STATE_RUNNING', message: `resuming at ${stoppedAt}` });
    expect(await runtime.wait(slow.jobId)).toMatchObject({ state: 'JOB_STATE_SUCCEEDED', done: '400' });
    expect(counted(log)).toEqual(range(400));
    await runtime.close();
  });

  it('fails a job that throws, with its message; starting it again retries from the last checkpoint', async () => {
    const dir = tempDir();
    const runtime = await openRuntime(dir);
    const failed = await runtime.wait((await runtime.start<CountRequest>('count', { to: 20, log: join(dir, 'f.log'), every: 5, failAt: 12 })).jobId);
    expect(failed).toMatchObject({ state: 'JOB_STATE_FAILED', message: 'cannot count past 12', done: '12' });
    const retried = await runtime.start<CountRequest>('count', { to: 20, log: join(dir, 'f.log'), every: 5, failAt: 12 });
    expect(retried).toMatchObject({ state: 'JOB_STATE_RUNNING', message: 'resuming at 10', done: '10' });
    expect((await runtime.wait(retried.jobId)).state).toBe('JOB_STATE_FAILED');
    await runtime.close();
  });

  it('close() checkpoints running jobs and leaves them RUNNING; open() + resume() continues from the checkpoint, not from zero', async () => {
    const dir = tempDir();
    const log = join(dir, 'c.log');
    const first = await openRuntime(dir, { concurrency: 1 });
    const { jobId } = await first.start<CountRequest>('count', { to: 300, log, every: 7, stepMs: 5 });
    const waiting = await first.start<CountRequest>('count', { to: 4, log: join(dir, 'w.log') });
    await until(() => Number(first.get(jobId).done) >= 30, 'progress');
    const waited = first.wait(jobId);
    await first.close();
    // wait() ends when the runtime closes, with the status it left.
    expect((await waited).state).toBe('JOB_STATE_RUNNING');
    const onDisk = JSON.parse(readFileSync(join(dir, `${jobId}.json`), 'utf8')) as JobFile<CountRequest, { next: number }>;
    expect(onDisk.status.state).toBe('JOB_STATE_RUNNING');
    const at = onDisk.checkpoint!.state.next;
    expect(at).toBeGreaterThanOrEqual(30);
    expect(at).toBeLessThan(300);
    expect(onDisk.checkpoint!.done).toBe(String(at));
    expect(counted(log)).toEqual(range(at));
    await expect(first.start('count', { to: 2, log: join(dir, 'late.log') })).rejects.toMatchObject({ code: GrpcStatus.UNAVAILABLE });

    // What a crash in the middle of a state write leaves behind: gone at the next open, the state file intact.
    writeFileSync(join(dir, `${jobId}.json.tmp`), '{"version": 1, "status": {"jo');
    const second = await openRuntime(dir, { concurrency: 1 });
    expect(existsSync(join(dir, `${jobId}.json.tmp`))).toBe(false);
    expect(second.get(jobId)).toMatchObject({ state: 'JOB_STATE_RUNNING', done: String(at) });
    await second.resume();
    expect(await second.wait(jobId)).toMatchObject({ state: 'JOB_STATE_SUCCEEDED', done: '300' });
    expect(counted(log)).toEqual(range(300));
    // The job that was queued at the stop ran after it.
    expect(await second.wait(waiting.jobId)).toMatchObject({ state: 'JOB_STATE_SUCCEEDED' });
    await second.close();
  });

  it('resumes the job of a process killed with SIGKILL from its last checkpoint', async () => {
    const dir = tempDir();
    const log = join(dir, 'k.log');
    const request = { to: 2000, log, every: 10, stepMs: 1 };
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./counting-job-child.test-util.ts', import.meta.url)), dir, JSON.stringify(request)], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const jobId = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        const m = /started (\S+)/.exec(d.toString());
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`child exited (${code}) before starting: ${stderr}`)));
    });
    const checkpointed = (): number => {
      try {
        return (JSON.parse(readFileSync(join(dir, `${jobId}.json`), 'utf8')) as JobFile<CountRequest, { next: number }>).checkpoint?.state.next ?? 0;
      } catch {
        return 0;
      }
    };
    await until(() => checkpointed() >= 50, 'checkpoint 50', 30_000);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    const atKill = JSON.parse(readFileSync(join(dir, `${jobId}.json`), 'utf8')) as JobFile<CountRequest, { next: number }>;
    expect(atKill.status.state).toBe('JOB_STATE_RUNNING');
    const at = atKill.checkpoint!.state.next;
    expect(at).toBeLessThan(2000);

    const runtime = await openRuntime(dir);
    await runtime.resume();
    expect(Number(runtime.get(jobId).done)).toBeGreaterThanOrEqual(at);
    expect(await runtime.wait(jobId)).toMatchObject({ state: 'JOB_STATE_SUCCEEDED', done: '2000' });
    await runtime.close();
    // Numbers up to the checkpoint were written once by the killed process, the rest once by the resumed job.
    expect(counted(log)).toEqual(range(2000));
  }, 60_000);

  it('keeps at most maxFinished finished jobs, and none older than maxAgeMs', async () => {
    const dir = tempDir();
    const runtime = await openRuntime(dir, { retention: { maxFinished: 2 } });
    const ids: string[] = [];
    for (const to of [1, 2, 3]) {
      const { jobId } = await runtime.start<CountRequest>('count', { to, log: join(dir, `${to}.log`) });
      await runtime.wait(jobId);
      ids.push(jobId);
      await new Promise((r) => setTimeout(r, 5));
    }
    // Retention runs as the third job winds up, just after wait() saw its terminal state.
    await until(() => !existsSync(join(dir, `${ids[0]}.json`)), 'the oldest state file to go', 5_000);
    expect(() => runtime.get(ids[0]!)).toThrow(/no job/);
    expect(runtime.list().jobs.map((j) => j.jobId).sort()).toEqual([ids[1], ids[2]].sort());
    await runtime.close();
    // An unfinished job is never dropped; finished ones past maxAgeMs are, at open().
    const file = JSON.parse(readFileSync(join(dir, `${ids[1]}.json`), 'utf8')) as JobFile;
    file.status.updatedUnixMs = String(Date.now() - 2 * 24 * 3600_000);
    writeFileSync(join(dir, `${ids[1]}.json`), JSON.stringify(file));
    const reopened = await openRuntime(dir, { retention: { maxAgeMs: 24 * 3600_000 } });
    expect(reopened.list().jobs.map((j) => j.jobId)).toEqual([ids[2]]);
    await reopened.close();
  });

  it('watch yields the status now and at each change, ends at the terminal state, and stops when its signal aborts', async () => {
    const dir = tempDir();
    const runtime = await openRuntime(dir, { progressIntervalMs: 10 });
    const { jobId } = await runtime.start<CountRequest>('count', { to: 60, log: join(dir, 'w.log'), stepMs: 3 });
    const seen: JobStatus[] = [];
    for await (const s of runtime.watch(jobId)) seen.push(s);
    expect(seen[0]!.state).toBe('JOB_STATE_RUNNING');
    expect(seen.at(-1)).toMatchObject({ state: 'JOB_STATE_SUCCEEDED', done: '60' });
    // Progress came in between, never going back.
    const done = seen.map((s) => Number(s.done));
    expect(done.length).toBeGreaterThan(3);
    expect(done).toEqual([...done].sort((a, b) => a - b));
    // Watching a finished job gives its status once.
    const finished: JobStatus[] = [];
    for await (const s of runtime.watch(jobId)) finished.push(s);
    expect(finished).toHaveLength(1);

    const slow = await runtime.start<CountRequest>('count', { to: 5000, log: join(dir, 's.log'), stepMs: 5 });
    const abort = new AbortController();
    const watched: JobStatus[] = [];
    setTimeout(() => abort.abort(), 200);
    const began = Date.now();
    for await (const s of runtime.watch(slow.jobId, abort.signal)) watched.push(s);
    expect(Date.now() - began).toBeLessThan(5000);
    expect(watched.at(-1)!.state).toBe('JOB_STATE_RUNNING');
    await expect(runtime.watch('count-none').next()).rejects.toMatchObject({ code: GrpcStatus.NOT_FOUND });
    await runtime.cancel(slow.jobId);
    await runtime.close();
  });

  it('lists newest first, filtered by kind and state, in pages that cover every job once', async () => {
    const dir = tempDir();
    const runtime = await openRuntime(dir, { concurrency: 3 });
    const ids: string[] = [];
    for (let i = 1; i <= 7; i++) {
      const { jobId } = await runtime.start<CountRequest>('count', { to: i, log: join(dir, `${i}.log`) });
      await runtime.wait(jobId);
      ids.push(jobId);
      await new Promise((r) => setTimeout(r, 3));
    }
    const seen: string[] = [];
    let token = '';
    let pages = 0;
    do {
      const page = runtime.list({ pageSize: 3, pageToken: token });
      seen.push(...page.jobs.map((j) => j.jobId));
      token = page.nextPageToken;
      pages++;
    } while (token);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());
    expect(runtime.list({ kind: 'count', state: 'JOB_STATE_SUCCEEDED' }).jobs).toHaveLength(7);
    expect(runtime.list({ kind: 'other' }).jobs).toHaveLength(0);
    expect(runtime.list({ state: 'JOB_STATE_FAILED' }).jobs).toHaveLength(0);
    expect(runtime.list({ state: 'JOB_STATE_UNSPECIFIED', pageSize: 0 }).jobs).toHaveLength(7);
    expect(() => runtime.list({ pageToken: 'garbage' })).toThrow(expect.objectContaining({ code: GrpcStatus.INVALID_ARGUMENT }) as Error);
    expect(() => runtime.list({ pageSize: -1 })).toThrow(/page_size/);
    await runtime.close();
  });
});
