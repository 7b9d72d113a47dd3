// Two real worker processes share a build's tasks evenly: the coordinator puts task i on partition
// i % 12 of the tasks topic, so the group's round-robin assignment gives each worker half of them
// (hashing task ids gave one worker up to twice the other's share, and a second worker sped a build up
// by as little as 1.0x). Also: a captions-jsonl dry run decides every line exactly once and counts
// exactly what LAIONet's rule keeps.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from '@select/metrics';
import { unary } from '@select/platform';
import { loadImageNetTaxonomy } from '@select/taxonomy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCurationKit, waitForJob, type CurationKit } from './curation-test-kit.test-util.js';

const TASKS = 24;
const TASK_SIZE = 50;

describe('a build shared by two worker processes', () => {
  let kit: CurationKit;

  beforeAll(async () => {
    kit = await startCurationKit('balance');
  });
  afterAll(async () => {
    await kit?.cleanup();
  });


  it('each worker does half of the 24 tasks; every caption decided once; counts equal the rule applied directly', async () => {
    const lemmas = [...loadImageNetTaxonomy().laionet.lemmas.keys()];
    const captions = Array.from({ length: TASKS * TASK_SIZE }, (_, i) => {
      const words = ['a', 'photo', 'of', 'the', 'old', 'garden', 'at', 'night'].slice(0, 3 + (i % 6));
      if (i % 3 !== 0) words.splice(i % words.length, 0, lemmas[(i * 7) % lemmas.length]!);
      if (i % 11 === 0) words.push(lemmas[(i * 13) % lemmas.length]!);
      return words.join(i % 4 === 0 ? ', ' : ' ');
    });
    const pool = join(kit.dir, 'captions.jsonl');
    writeFileSync(pool, captions.map((caption, i) => `${JSON.stringify({ id: `c${i}`, caption })}\n`).join(''));
    const matcher = loadImageNetTaxonomy().laionet.matcher();
    const expectedPerClass: Record<string, number> = {};
    for (const caption of captions) {
      const wnid = matcher.findUniqueSynset(caption);
      if (wnid !== undefined) expectedPerClass[wnid] = (expectedPerClass[wnid] ?? 0) + 1;
    }
    const expected = Object.values(expectedPerClass).reduce((s, n) => s + n, 0);
    expect(expected).toBeGreaterThan(100);

    const { client } = await kit.startCurator({ localWorkers: 0 });
    const a = kit.spawnWorker('worker-a');
    const b = kit.spawnWorker('worker-b');
    // Both in the group, the tasks topic's 12 partitions split between them, before the build starts.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const latest = [a, b].map((w) => w.logs.filter((l) => l.msg === 'joined consumer group').pop()?.['assignment'] as Record<string, number[]> | undefined);
      const partitions = latest.map((l) => Object.values(l ?? {}).flat());
      if (partitions.every((p) => p.length === 6) && new Set(partitions.flat()).size === 12) break;
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 100));
    }

    const started = await unary<{ jobId: string; outputUri: string }>(client, 'StartCuration', {
      shiftName: 'balance-test',
      pool: { uri: pool, format: 'captions-jsonl', name: 'synthetic' },
      steps: [{ name: 'substring-match', paramsJson: '{}' }],
      taskSize: TASK_SIZE,
      dryRun: true,
    });
    const job = await waitForJob(client, started.jobId, 120_000);
    expect(job.state).toBe('JOB_STATE_SUCCEEDED');

    const tasksDir = join(started.outputUri, '.build', 'tasks');
    const summaries = readdirSync(tasksDir).map((t) => JSON.parse(readFileSync(join(tasksDir, t, 'task.json'), 'utf8')) as { worker: string; records: number });
    expect(summaries).toHaveLength(TASKS);
    expect(summaries.filter((s) => s.worker === 'worker-a')).toHaveLength(TASKS / 2);
    expect(summaries.filter((s) => s.worker === 'worker-b')).toHaveLength(TASKS / 2);
    expect(summaries.reduce((s, t) => s + t.records, 0)).toBe(captions.length);

    const counts = JSON.parse(readFileSync(join(started.outputUri, 'dry_run_counts.json'), 'utf8')) as { candidates: number; samples: number; perClass: Record<string, number> };
    expect(counts.candidates).toBe(captions.length);
    expect(counts.samples).toBe(expected);
    expect(counts.perClass).toEqual(expectedPerClass);

    const decided = await kit.rowsWhen<{ candidates: string; kept: string; ids: string }>(
      sql`SELECT count() AS candidates, sum(kept) AS kept, uniqExact(source_id) AS ids FROM curation_decisions FINAL WHERE shift_id = ${started.jobId}`,
      (rows) => rows[0]?.candidates === String(captions.length),
    );
    expect(decided).toEqual([{ candidates: String(captions.length), kept: String(expected), ids: String(captions.length) }]);
  });
});
