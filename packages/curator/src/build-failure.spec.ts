// A build that cannot go on — the embedding service dies mid-build — fails with the reason and keeps
// what it committed; ResumeCuration, once the service is back, finishes it without redoing those tasks.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { GrpcCallError, status, unary, type GenericServiceClient } from '@select/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCurationKit, waitForJob, writeSvgPool, type CurationKit } from './curation-test-kit.test-util.js';
import { FIXTURE_MODELS, startEmbeddingService } from './embedding-service.test-util.js';

const TASKS = 20;

describe('a build that cannot go on', () => {
  let kit: CurationKit;
  let embedding: Awaited<ReturnType<typeof startEmbeddingService>> | undefined;
  let client: GenericServiceClient;
  let root: string;
  let port: string;

  beforeAll(async () => {
    kit = await startCurationKit('fail');
    embedding = await startEmbeddingService(FIXTURE_MODELS);
    port = embedding.address.split(':').pop()!;
    root = join(kit.dir, 'pool');
    writeSvgPool(
      root,
      Array.from({ length: TASKS * 2 }, (_, i) => ({ path: `c/${String(i).padStart(3, '0')}.svg`, title: i % 2 === 0 ? `tench number ${i}` : `goldfish number ${i}` })),
    );
    ({ client } = await kit.startCurator({ localWorkers: 1, embeddingAddress: `127.0.0.1:${port}` }));
  }, 180_000);
  afterAll(async () => {
    await embedding?.stop();
    await kit?.cleanup();
  });

  it('fails with the reason, keeps its committed tasks, and resume finishes it', async () => {
    const started = await unary<{ jobId: string; outputUri: string }>(client, 'StartCuration', {
      shiftName: 'dies-midway',
      gateOverrideReason: 'test pool: no evaluation set to gate against',
      pool: { uri: root, format: 'openclipart' },
      steps: [
        { name: 'substring-match', paramsJson: '{}' },
        { name: 'text-similarity', paramsJson: '{"model": "tiny-sentence", "threshold": -0.5}' },
      ],
      taskSize: 2,
    });
    const tasks = join(started.outputUri, '.build', 'tasks');
    const committed = () => {
      try {
        return readdirSync(tasks).filter((n) => !n.endsWith('.tmp') && !n.endsWith('.json'));
      } catch {
        return [];
      }
    };
    while (committed().length === 0) await new Promise((r) => setTimeout(r, 10));
    await embedding!.stop();
    embedding = undefined;

    const failed = await waitForJob(client, started.jobId);
    expect(failed.state).toBe('JOB_STATE_FAILED');
    expect(failed.message).toMatch(/task\(s\) failed; the committed tasks are kept\. First: task dies-midway-\w+-t\d{5} failed 3 time\(s\): .*UNAVAILABLE/);
    const kept = committed();
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThan(TASKS);
    const before = new Map(kept.map((t) => [t, statSync(join(tasks, t, 'task.json')).mtimeMs]));

    embedding = await startEmbeddingService(FIXTURE_MODELS, port);
    // The curator's channel to the embedding service reconnects with backoff: UNAVAILABLE until it has.
    let resumed: { jobId: string } | undefined;
    for (let attempt = 0; resumed === undefined; attempt++) {
      try {
        resumed = await unary<{ jobId: string }>(client, 'ResumeCuration', { shiftId: started.jobId });
      } catch (error) {
        if (!(error instanceof GrpcCallError) || error.code !== status.UNAVAILABLE || attempt > 60) throw error;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    expect(resumed.jobId).toBe(started.jobId);
    const done = await waitForJob(client, started.jobId);
    expect(done.state).toBe('JOB_STATE_SUCCEEDED');
    expect(done.message).toBe(`${TASKS * 2} samples in 2 classes from ${TASKS * 2} candidates (0 dropped)`);
    expect(committed()).toHaveLength(TASKS);
    // What was committed before the failure was not done again.
    for (const [task, mtime] of before) expect(statSync(join(tasks, task, 'task.json')).mtimeMs, task).toBe(mtime);
    // ~8 s alone; the whole curator suite on a loaded 2-core machine took it past vitest's default 30 s
  }, 120_000);
});
