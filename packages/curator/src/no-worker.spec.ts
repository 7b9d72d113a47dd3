// A curator with no worker (CURATOR_LOCAL_WORKERS=0 and no `select curator worker` process, or workers that
// died) used to show "0/n tasks committed" forever. After CURATOR_NO_WORKER_CHECK_MS with nothing happening it
// asks Kafka for the workers' consumer group and, finding it empty, says so in the build's status; a worker
// started later takes the tasks from Kafka and the build completes.
import { OPENCLIPART_ROOT } from '@select/datasets';
import { unary } from '@select/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCurationKit, waitForJob, type CurationKit } from './curation-test-kit.test-util.js';

describe('a build with no curator worker running', () => {
  let kit: CurationKit;

  beforeAll(async () => {
    kit = await startCurationKit('noworker');
  });
  afterAll(async () => {
    await kit?.cleanup();
  });

  it("says so in the build's status; a worker started later finishes the build", async () => {
    const { client } = await kit.startCurator({ localWorkers: 0, noWorkerCheckMs: 1000 });
    const started = await unary<{ jobId: string }>(client, 'StartCuration', {
      shiftName: 'no-worker',
      gateOverrideReason: 'test pool: no evaluation set to gate against',
      pool: { uri: OPENCLIPART_ROOT, format: 'openclipart', limit: '60' },
      steps: [{ name: 'substring-match', paramsJson: '{}' }],
      taskSize: 20,
    });
    let hint = '';
    const deadline = Date.now() + 30_000;
    while (hint === '' && Date.now() < deadline) {
      const job = await unary<{ state: string; message: string }>(client, 'GetJob', { jobId: started.jobId });
      expect(job.state).toBe('JOB_STATE_RUNNING');
      if (job.message.includes('no curator worker')) hint = job.message;
      else await new Promise((r) => setTimeout(r, 200));
    }
    expect(hint).toMatch(/^0\/3 tasks committed; no curator worker is running \(consumer group t-cur-noworker-\w+-workers has no member\): start one \(select services up curator-worker/);

    const worker = kit.spawnWorker('late-worker');
    const messages: string[] = [];
    const job = await waitForJob(client, started.jobId, 120_000, { onStatus: (status) => messages.push(status.message) });
    expect(job.state, job.message).toBe('JOB_STATE_SUCCEEDED');
    expect(job.message).toMatch(/samples in \d+ classes from 60 candidates/);
    expect(worker.logs.filter((l) => l.msg === 'task finished')).toHaveLength(3);
    // once the worker had joined and committed tasks, the status no longer said there was none
    const firstCommitted = messages.findIndex((m) => /^[1-3]\/3 tasks committed/.test(m));
    expect(firstCommitted).toBeGreaterThanOrEqual(0);
    expect(messages.slice(firstCommitted).filter((m) => m.includes('no curator worker'))).toEqual([]);
  }, 180_000);
});
