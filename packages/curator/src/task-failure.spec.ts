// A task that throws in a worker is retried, and a task that keeps throwing fails the build with its
// reason within seconds, keeping what was committed: never a build that waits forever for a task
// nobody will redo. Both a failure while the worker prepares the chain (the step's create: where
// evaluation sets are registered and pool indexes built) and one while it runs a batch.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { unary, type GenericServiceClient } from '@select/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChainStep, StepDefinition } from './chain/step.js';
import { createStepRegistry, STEP_DEFINITIONS } from './steps.js';
import { startCurationKit, waitForJob, writeSvgPool, type CurationKit } from './curation-test-kit.test-util.js';

const TASKS = 4;
let creates = 0;
const failedBatches = new Map<string, number>();

/** Throws in create while `params.failCreates` creates remain; throws once in the first batch of `params.failTask`. */
const flaky: StepDefinition = {
  name: 'flaky-test-step',
  role: 'filter',
  description: 'test step that fails on purpose',
  paperShift: '',
  poolFormats: [],
  params: {
    failCreates: { type: 'integer', description: 'creates that throw', default: 0, min: 0 },
    failTask: { type: 'string', description: 'the first source id of the task whose first batch throws once', default: '' },
    tag: { type: 'string', description: 'distinguishes builds', default: '' },
  },
  create(params): ChainStep {
    creates++;
    if (creates <= Number(params['failCreates'])) throw new Error(`preparation exploded (create ${creates})`);
    return {
      scope: 'task',
      name: 'flaky-test-step',
      params,
      async process(batch) {
        const first = batch[0]?.sourceId ?? '';
        if (params['failTask'] !== '' && first.endsWith(String(params['failTask'])) && (failedBatches.get(first) ?? 0) === 0) {
          failedBatches.set(first, 1);
          throw new Error('batch exploded once');
        }
        return { kept: batch, dropped: [] };
      },
    };
  },
};

describe('a task that throws in a worker', () => {
  let kit: CurationKit;
  let client: GenericServiceClient;
  let root: string;

  beforeAll(async () => {
    kit = await startCurationKit('taskfail');
    root = join(kit.dir, 'pool');
    writeSvgPool(
      root,
      Array.from({ length: TASKS * 2 }, (_, i) => ({ path: `c/${String(i).padStart(3, '0')}.svg`, title: i % 2 === 0 ? `tench number ${i}` : `goldfish number ${i}` })),
    );
    const registry = createStepRegistry([...STEP_DEFINITIONS, flaky]);
    ({ client } = await kit.startCurator({ localWorkers: 1 }, { registry }));
  }, 180_000);
  afterAll(async () => {
    await kit?.cleanup();
  });

  const start = (name: string, params: Record<string, unknown>) =>
    unary<{ jobId: string; outputUri: string }>(client, 'StartCuration', {
      shiftName: name,
      gateOverrideReason: 'test pool: no evaluation set to gate against',
      pool: { uri: root, format: 'openclipart' },
      steps: [
        { name: 'substring-match', paramsJson: '{}' },
        { name: 'flaky-test-step', paramsJson: JSON.stringify(params) },
      ],
      taskSize: 2,
    });

  it('is retried: a batch that throws once, and a chain that fails to prepare once, still give a complete shift', async () => {
    creates = 0;
    // At most 2 failures of one task (the create, then the batch), under the limit of 3 attempts.
    const started = await start('retried', { failCreates: 1, failTask: '004.svg', tag: 'retried' });
    const job = await waitForJob(client, started.jobId, 60_000);
    expect(job.state, job.message).toBe('JOB_STATE_SUCCEEDED');
    expect(creates).toBeGreaterThanOrEqual(2);
    expect(failedBatches.size).toBe(1);
    const tasks = readdirSync(join(started.outputUri, '.build', 'tasks')).filter((n) => !n.includes('.'));
    expect(tasks).toHaveLength(TASKS);
  }, 90_000);

  it('fails the build with the reason after 3 attempts, within seconds, instead of hanging', async () => {
    creates = 0;
    const t0 = Date.now();
    const started = await start('never-prepares', { failCreates: 1000, tag: 'failing' });
    const job = await waitForJob(client, started.jobId, 30_000);
    const seconds = (Date.now() - t0) / 1000;
    expect(job.state).toBe('JOB_STATE_FAILED');
    expect(job.message).toMatch(/failed 3 time\(s\): preparation exploded/);
    expect(job.message).toMatch(/committed tasks are kept/);
    // 3 attempts with 1 s + 2 s of backoff, plus polling: seconds, not the 30 s the wait allows.
    expect(seconds).toBeLessThan(20);
    expect(creates).toBeGreaterThanOrEqual(3);
  }, 60_000);
});
