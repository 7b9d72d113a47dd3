// SIGTERM while builds are running: the curator process checkpoints them and exits within a couple of
// seconds — even with a client watching the build (WatchJob) —
// and a worker process in the middle of a task leaves promptly too. A restarted
// curator resumes the interrupted build.
import { join } from 'node:path';
import { packageDefinition } from '@select/contracts';
import { OPENCLIPART_ROOT } from '@select/datasets';
import { createGrpcClient, unary, type GenericServiceClient } from '@select/platform';
import { spawnWithJsonLogs, type JsonLogProcess } from '@select/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROKERS, CURATOR_DIR, startCurationKit, type CurationKit } from './curation-test-kit.test-util.js';
import { SERVICE_NAME } from './server.js';

describe('SIGTERM during builds', () => {
  let kit: CurationKit;
  const procs: JsonLogProcess[] = [];

  beforeAll(async () => {
    kit = await startCurationKit('sigterm');
  }, 180_000);
  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await kit?.cleanup();
  });

  const env = (extra: Record<string, string>): NodeJS.ProcessEnv => ({
    ...process.env,
    KAFKA_BROKERS: BROKERS.join(','),
    CURATOR_KAFKA_TOPIC_PREFIX: kit.prefix,
    CURATOR_WORKER_GROUP: `${kit.prefix}workers`,
    CURATOR_WORKER_SESSION_TIMEOUT_MS: '6000',
    CURATOR_DATA_DIR: join(kit.dir, 'data'),
    CURATOR_HOST: '127.0.0.1',
    CURATOR_PORT: '0',
    LOG_LEVEL: 'info',
    ...extra,
  });
  const spawn = (args: string[], extra: Record<string, string>): JsonLogProcess => {
    const p = spawnWithJsonLogs(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { cwd: CURATOR_DIR, env: env(extra) });
    procs.push(p);
    return p;
  };
  const timeToExit = async (p: JsonLogProcess): Promise<{ seconds: number; exit: number | string }> => {
    const t0 = Date.now();
    p.child.kill('SIGTERM');
    const exit = await p.exited;
    return { seconds: (Date.now() - t0) / 1000, exit };
  };

  it('the curator exits within 3 s with a watched build running (was 10 s: the drain waited for WatchJob), the worker too, and the build resumes after a restart', async () => {
    const worker = spawn(['worker'], { CURATOR_WORKER_ID: 'term-worker' });
    const curator = spawn([], { CURATOR_LOCAL_WORKERS: '0' });
    const listening = await curator.waitForLog('grpc server listening', 90_000);
    await worker.waitForLog('curator worker consuming tasks', 90_000);
    const client = createGrpcClient<GenericServiceClient>(packageDefinition('curation'), SERVICE_NAME, String(listening['address']));
    // A build the worker is busy with (the whole openclipart pool, big tasks).
    const running = await unary<{ jobId: string }>(client, 'StartCuration', {
      shiftName: 'running-at-sigterm',
      gateOverrideReason: 'test pool: no evaluation set to gate against',
      pool: { uri: OPENCLIPART_ROOT, format: 'openclipart', limit: '20000' },
      steps: [{ name: 'substring-match', paramsJson: '{}' }],
      taskSize: 5000,
    });
    // A client watching it, as `select curate` does.
    const watch = client.WatchJob!({ jobId: running.jobId });
    const watched = new Promise<string>((resolve) => {
      watch.on('error', (e: Error) => resolve(e.message));
      watch.on('end', () => resolve('end'));
      watch.on('data', () => undefined);
    });
    await worker.waitForLog('task started', 60_000);

    const curatorExit = await timeToExit(curator);
    expect(curatorExit.exit).toBe(0);
    expect(curatorExit.seconds).toBeLessThan(3);
    expect(await watched).toMatch(/stopping|UNAVAILABLE|end/i);
    const workerExit = await timeToExit(worker);
    expect(workerExit.exit).toBe(0);
    expect(workerExit.seconds).toBeLessThan(3);
    client.close();

    // The interrupted build was checkpointed, not failed: a new curator resumes it.
    const again = spawn([], { CURATOR_LOCAL_WORKERS: '0' });
    const address = String((await again.waitForLog('grpc server listening', 90_000))['address']);
    const client2 = createGrpcClient<GenericServiceClient>(packageDefinition('curation'), SERVICE_NAME, address);
    const job = await unary<{ state: string }>(client2, 'GetJob', { jobId: running.jobId });
    expect(job.state).toBe('JOB_STATE_RUNNING');
    client2.close();
    expect((await timeToExit(again)).seconds).toBeLessThan(3);
  }, 180_000);
});
