// The same build as a clean run, but with a curator worker SIGKILLed in the middle, then the metrics sink, each
// restarted by the supervisor: the build completes, and the shift and ClickHouse hold every sample exactly once —
// the same samples as the clean build (nothing lost, nothing duplicated).
import { join } from 'node:path';
import { sql } from '@select/metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E2E_SERVICES, buildRequest, readShiftFiles, startDeployment, writePool, type Deployment, type PoolItem } from './e2e-kit.js';

const COPIES = 40; // 400 clip-art files, 240 naming exactly one synset: 50 tasks of 8, seconds of work to kill into
const STEPS = [{ name: 'substring-match' }, { name: 'text-similarity', params: { model: 'tiny-sentence', threshold: 0, batchSize: 4 } }];

let d: Deployment;
let pool: PoolItem[];
let poolRoot: string;

beforeAll(async () => {
  d = await startDeployment('kill');
  poolRoot = join(d.dir, 'pool');
  pool = writePool(poolRoot, COPIES);
  const up = await d.supervisor.up([...E2E_SERVICES.filter((s) => s !== 'trainer' && s !== 'evaluator')]);
  const bad = up.filter((r) => r.outcome !== 'started' && r.outcome !== 'disabled');
  if (bad.length > 0) throw new Error(`services did not start: ${bad.map((r) => `${r.instance} ${r.outcome}: ${r.detail}`).join('\n')}`);
}, 300_000);

afterAll(async () => {
  await d?.cleanup();
}, 120_000);

async function counts(shiftId: string): Promise<{ decisions: number; kept: number; samples: number; sampleIds: number }> {
  const [decisions] = await d.ch.query<{ n: string; kept: string }>(sql`SELECT count() AS n, countIf(kept = 1) AS kept FROM curation_decisions FINAL WHERE shift_id = ${shiftId}`);
  const [samples] = await d.ch.query<{ n: string; ids: string }>(sql`SELECT count() AS n, uniqExact(sample_id) AS ids FROM samples FINAL WHERE shift_id = ${shiftId}`);
  return { decisions: Number(decisions?.n), kept: Number(decisions?.kept), samples: Number(samples?.n), sampleIds: Number(samples?.ids) };
}

async function settled(shiftId: string, expected: number): Promise<{ decisions: number; kept: number; samples: number; sampleIds: number }> {
  const deadline = Date.now() + 180_000;
  let last = await counts(shiftId);
  while (Date.now() < deadline && (last.decisions < pool.length || last.samples < expected)) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    last = await counts(shiftId);
  }
  return last;
}

describe('a build survives SIGKILLed processes', () => {
  it('a curator worker and the metrics sink SIGKILLed mid-build, then restarted: the same shift as a clean build, every sample exactly once', async () => {
    const curator = d.client('curator');

    // The clean build, for comparison.
    const clean = await curator.call<{ jobId: string }>('StartCuration', buildRequest('e2e-clean', poolRoot, join(d.dir, 'shifts', 'e2e-clean'), STEPS, 8));
    const cleanJob = await curator.waitForJob(clean.jobId, () => undefined);
    expect(cleanJob.state, cleanJob.message).toBe('JOB_STATE_SUCCEEDED');
    const cleanFiles = readShiftFiles(cleanJob.outputUri);
    const expectedSources = cleanFiles.entries.map((e) => e.source_id).sort();
    expect(expectedSources.length).toBeGreaterThan(0);
    expect(expectedSources.length).toBeLessThanOrEqual(pool.filter((p) => p.wnid).length);

    // The same build under another id, with kills.
    const started = await curator.call<{ jobId: string }>('StartCuration', buildRequest('e2e-killed', poolRoot, join(d.dir, 'shifts', 'e2e-killed'), STEPS, 8));
    // Once some tasks are committed and others are not: SIGKILL a curator worker and the metrics sink.
    let killed = false;
    const killWhen = async (status: { done: string; total: string }): Promise<void> => {
      const done = Number(status.done);
      const total = Number(status.total);
      if (killed || done < 16 || done >= total) return;
      killed = true;
      const [worker, sink] = await d.supervisor.status(['curator-worker-1', 'metrics-sink']).then((rows) => [
        rows.find((r) => r.instance === 'curator-worker-1'),
        rows.find((r) => r.instance === 'metrics-sink'),
      ]);
      process.kill(worker!.pid!, 'SIGKILL');
      process.kill(sink!.pid!, 'SIGKILL');
    };
    const pending: Promise<void>[] = [];
    const job = await curator.waitForJob(started.jobId, (status) => {
      pending.push(killWhen(status));
    });
    await Promise.all(pending);
    expect(killed, 'the worker and the sink were killed while the build ran').toBe(true);

    // The supervisor sees what was killed and starts it again.
    const status = await d.supervisor.status(['curator-worker-1', 'metrics-sink']);
    expect(status.map((s) => [s.instance, s.state])).toEqual([
      ['metrics-sink', 'dead'],
      ['curator-worker-1', 'dead'],
    ]);
    const restarted = await d.supervisor.up(['curator-worker-1', 'metrics-sink']);
    expect(restarted.filter((r) => r.instance === 'curator-worker-1' || r.instance === 'metrics-sink').map((r) => [r.instance, r.outcome])).toEqual([
      ['metrics-sink', 'restarted'],
      ['curator-worker-1', 'restarted'],
    ]);

    expect(job.state, job.message).toBe('JOB_STATE_SUCCEEDED');
    const files = readShiftFiles(job.outputUri);
    expect(files.entries.map((e) => e.source_id).sort()).toEqual(expectedSources);
    expect(new Set(files.entries.map((e) => e.key)).size).toBe(files.entries.length);
    expect(files.infoSamples).toBe(expectedSources.length);

    const killedCounts = await settled('e2e-killed', expectedSources.length);
    const cleanCounts = await settled('e2e-clean', expectedSources.length);
    expect(cleanCounts).toEqual({ decisions: pool.length, kept: expectedSources.length, samples: expectedSources.length, sampleIds: expectedSources.length });
    expect(killedCounts).toEqual(cleanCounts);
  }, 900_000);
});
