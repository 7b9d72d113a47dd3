// A curator with no worker (CURATOR_LOCAL_WORKERS=0 and no `select curator worker` process, or workers that
// died) used to show "0/n tasks committed" forever. After CURATOR_NO_WORKER_CHECK_MS with nothing happening it
// asks Kafka for the workers' consumer group and, finding it empty, says so in the build's status; a worker
// started later takes the tasks from Kafka and the build completes. The status also counts the tasks workers
// are running, and says when the workers in the group have taken none of a build's tasks (busy elsewhere).
import { join } from 'node:path';
import { OPENCLIPART_ROOT } from '@select/datasets';
import { unary } from '@select/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChainStep, StepDefinition } from './chain/step.js';
import { createStepRegistry, STEP_DEFINITIONS } from './steps.js';
import { startCurationKit, waitForJob, writeSvgPool, type CurationKit } from './curation-test-kit.test-util.js';

let release: () => void = () => undefined;
const released = new Promise<void>((resolve) => (release = resolve));

/** A filter whose batches wait until the test releases them when `params.hold` is true: tasks that stay running. */
const holding: StepDefinition = {
  name: 'holding-test-step',
  role: 'filter',
  description: 'test step that holds its batches until released',
  paperShift: '',
  poolFormats: [],
  params: { hold: { type: 'boolean', description: 'wait for the release', default: false } },
  create(params): ChainStep {
    return {
      scope: 'task',
      name: 'holding-test-step',
      params,
      async process(batch) {
        if (params['hold'] === true) await released;
        return { kept: batch, dropped: [] };
      },
    };
  },
};

async function messageWhen(client: Parameters<typeof unary>[0], jobId: string, match: RegExp, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = (await unary<{ message: string }>(client, 'GetJob', { jobId })).message;
    if (match.test(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no status of ${jobId} matched ${match} in ${timeoutMs} ms; the last: ${last}`);
}

describe("a build's status while its tasks wait for workers", () => {
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

  it("counts the tasks running; a build whose tasks no busy worker has taken yet says so", async () => {
    const root = join(kit.dir, 'tench-pool');
    writeSvgPool(root, Array.from({ length: 8 }, (_, i) => ({ path: `c/${String(i).padStart(3, '0')}.svg`, title: `tench number ${i}` })));
    const registry = createStepRegistry([...STEP_DEFINITIONS, holding]);
    // one worker in the curator, two tasks at once (CURATOR_WORKER_CONCURRENT_TASKS's default)
    const { client } = await kit.startCurator({ localWorkers: 1, noWorkerCheckMs: 1000, workerGroupId: `${kit.prefix}busy-workers` }, { registry });
    const start = (name: string, hold: boolean, limit: number) =>
      unary<{ jobId: string }>(client, 'StartCuration', {
        shiftName: name,
        gateOverrideReason: 'test pool: no evaluation set to gate against',
        pool: { uri: root, format: 'openclipart', limit: String(limit) },
        steps: [
          { name: 'substring-match', paramsJson: '{}' },
          { name: 'holding-test-step', paramsJson: JSON.stringify({ hold }) },
        ],
        taskSize: 2,
      });
    const held = await start('held', true, 4);
    expect(await messageWhen(client, held.jobId, /^0\/2 tasks committed, 2 running$/)).toBe('0/2 tasks committed, 2 running');
    // the worker's two slots are taken: the next build's tasks wait in Kafka, and its status says why nothing moves
    const waiting = await start('waiting', false, 2);
    const hint = await messageWhen(client, waiting.jobId, /is running one of its tasks/);
    expect(hint).toBe(`0/1 tasks committed; none of the 1 worker(s) in group ${kit.prefix}busy-workers is running one of its tasks (busy with another build's, or rebalancing)`);
    release();
    for (const jobId of [held.jobId, waiting.jobId]) {
      const job = await waitForJob(client, jobId, 60_000);
      expect(job.state, job.message).toBe('JOB_STATE_SUCCEEDED');
    }
  }, 120_000);
});
