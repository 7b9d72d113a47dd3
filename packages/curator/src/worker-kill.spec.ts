// Two real curator worker processes share a build's shard tasks over Kafka; one is SIGKILLed in the
// middle of a task. The other redoes that task after the session timeout, and the shift and ClickHouse
// end with every sample exactly once (counts checked against the matcher run directly on the pool).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OPENCLIPART_ROOT, readOpenClipart } from '@select/datasets';
import { sql } from '@select/metrics';
import { unary } from '@select/platform';
import { loadImageNetTaxonomy } from '@select/taxonomy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCurationKit, waitForJob, type CurationKit } from './curation-test-kit.test-util.js';

const RECORDS = 480;

describe('curator workers over Kafka', () => {
  let kit: CurationKit;

  beforeAll(async () => {
    kit = await startCurationKit('kill');
  });
  afterAll(async () => {
    await kit?.cleanup();
  });


  it('a SIGKILLed worker\'s task is redone by the other; shift and ClickHouse hold every sample exactly once', async () => {
    // The oracle: LAIONet's rule applied directly to the same records.
    const matcher = loadImageNetTaxonomy().laionet.matcher();
    let expected = 0;
    let seen = 0;
    for await (const record of readOpenClipart({ render: false })) {
      if (seen++ >= RECORDS) break;
      if (record.ok && matcher.findUniqueSynset(record.sample.caption) !== undefined) expected++;
    }
    expect(expected).toBeGreaterThan(10);

    const { client } = await kit.startCurator({ localWorkers: 0 });
    const a = kit.spawnWorker('worker-a');
    const b = kit.spawnWorker('worker-b');
    await Promise.all([a.waitForLog('curator worker consuming tasks'), b.waitForLog('curator worker consuming tasks')]);

    const started = await unary<{ jobId: string; outputUri: string }>(client, 'StartCuration', {
      shiftName: 'kill-test',
      gateOverrideReason: 'test pool: no evaluation set to gate against',
      pool: { uri: OPENCLIPART_ROOT, format: 'openclipart', limit: String(RECORDS) },
      steps: [{ name: 'substring-match', paramsJson: '{}' }],
      taskSize: 40,
    });
    // Kill whichever worker starts a task first, the moment it has started it.
    const first = await Promise.race([a, b].map(async (w) => ((await w.waitForLog('task started')), w)));
    const victim = first;
    const survivor = victim === a ? b : a;
    const killedTask = String(victim.logs.find((l) => l.msg === 'task started')?.['taskId']);
    victim.child.kill('SIGKILL');
    expect(await victim.exited).toBe('SIGKILL');
    expect(victim.logs.some((l) => l.msg === 'task finished' && l['taskId'] === killedTask)).toBe(false);

    const job = await waitForJob(client, started.jobId, 180_000);
    expect(job.state).toBe('JOB_STATE_SUCCEEDED');
    expect(job.message).toMatch(new RegExp(`^${expected} samples in \\d+ classes from ${RECORDS} candidates`));

    // The killed task was done by the survivor, and every task is committed exactly once.
    const summary = JSON.parse(readFileSync(join(started.outputUri, '.build', 'tasks', killedTask, 'task.json'), 'utf8')) as { worker: string; records: number };
    expect(summary.worker).toBe(survivor === a ? 'worker-a' : 'worker-b');
    expect(survivor.logs.some((l) => l.msg === 'task finished' && l['taskId'] === killedTask && l['outcome'] === 'done')).toBe(true);

    const manifest = readFileSync(join(started.outputUri, 'manifest.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string });
    expect(manifest).toHaveLength(expected);
    expect(new Set(manifest.map((m) => m.id)).size).toBe(expected);
    const counts = JSON.parse(readFileSync(join(started.outputUri, 'class_counts.json'), 'utf8')) as Array<{ count: number }>;
    expect(counts.reduce((s, c) => s + c.count, 0)).toBe(expected);

    const decided = await kit.rowsWhen<{ candidates: string; kept: string }>(
      sql`SELECT count() AS candidates, sum(kept) AS kept FROM curation_decisions FINAL WHERE shift_id = ${started.jobId}`,
      (rows) => rows[0]?.candidates === String(RECORDS),
    );
    expect(decided).toEqual([{ candidates: String(RECORDS), kept: String(expected) }]);
    const samples = await kit.rowsWhen<{ n: string; ids: string }>(
      sql`SELECT count() AS n, uniqExact(sample_id) AS ids FROM samples FINAL WHERE shift_id = ${started.jobId}`,
      (rows) => rows[0]?.n === String(expected),
    );
    expect(samples).toEqual([{ n: String(expected), ids: String(expected) }]);
  });
});
