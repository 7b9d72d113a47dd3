// The sink as deployed: a child process running src/main.ts, killed and restarted, and kept running
// through a ClickHouse outage. Whatever happens, ClickHouse ends up with every event exactly once.
import { afterEach, describe, expect, it } from 'vitest';
import { sql, waitForClickHouse, type ClickHouse } from '@select/metrics';
import { checkHealth } from '@select/platform';
import { holdClickHouseUp, withClickHouseOutage } from '@select/testing';
import {
  createTestWorld,
  deadLetterCount,
  publishOtherEvents,
  publishSamples,
  startSinkProcess,
  tableCounts,
  waitUntil,
  type SinkProcess,
  type TestWorld,
} from './sink-test-kit.test-util.js';

const samplesRaw = async (ch: ClickHouse): Promise<number> =>
  Number((await ch.query<{ n: string }>(sql`SELECT count() AS n FROM samples`).catch(() => [{ n: '0' }]))[0]?.n ?? 0);

const TABLES = ['samples', 'shifts', 'jobs', 'training_metrics', 'evaluation_results'] as const;

describe('metrics-sink process', () => {
  let world: TestWorld | undefined;
  const processes: SinkProcess[] = [];

  afterEach(async () => {
    for (const p of processes.splice(0)) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      await p.exited;
    }
    const release = await holdClickHouseUp();
    try {
      await world?.cleanup();
    } finally {
      world = undefined;
      release();
    }
  });

  const start = (env: Record<string, string> = {}): SinkProcess => {
    if (!world) throw new Error('no test world');
    const p = startSinkProcess(world, env);
    processes.push(p);
    return p;
  };

  const expectExactlyOnce = async (expected: Record<(typeof TABLES)[number], number>): Promise<void> => {
    if (!world) throw new Error('no test world');
    const { ch } = world;
    const total = Object.values(expected).reduce((a, b) => a + b, 0);
    const distinctTotal = async (): Promise<number> =>
      (await Promise.all(TABLES.map((t) => tableCounts(ch, t)))).reduce((sum, c) => sum + c.distinct, 0);
    await waitUntil(async () => (await distinctTotal()) >= total, 90_000, async () => `${await distinctTotal()} of ${total} events landed`);
    for (const table of TABLES) {
      expect(await tableCounts(ch, table), table).toMatchObject({ distinct: expected[table], final: expected[table] });
    }
  };

  it('killed with SIGKILL mid-stream and restarted, it stores every event exactly once', async () => {
    const release = await holdClickHouseUp();
    try {
      world = await createTestWorld();
      const first = 1_000;
      const second = 1_000;
      await publishSamples(world.producer, 0, first);
      const others = await publishOtherEvents(world.producer);

      // Small batches make many inserts, so the kill lands between some of them.
      const victim = start({ METRICS_SINK_MAX_BATCH: '20' });
      // Killed the moment rows appear, it may not have committed their offsets yet (then its successor
      // inserts them again); either way every event must count once.
      const deadline = Date.now() + 60_000;
      while ((await samplesRaw(world.ch)) === 0) {
        if (Date.now() > deadline) throw new Error('no sample landed');
      }
      victim.child.kill('SIGKILL');
      expect(await victim.exited).toBe('SIGKILL');
      const landed = await tableCounts(world.ch, 'samples');
      expect(landed.distinct).toBeLessThan(first + second);

      await publishSamples(world.producer, first, second);
      const survivor = start({ METRICS_SINK_MAX_BATCH: '200' });
      await expectExactlyOnce({
        samples: first + second,
        shifts: others.shifts,
        jobs: others.jobs,
        training_metrics: others.training,
        evaluation_results: others.evaluations,
      });
      expect(await deadLetterCount(world.prefix)).toBe(0);

      survivor.child.kill('SIGTERM');
      expect(await survivor.exited).toBe(0);
      expect(survivor.logs.map((l) => l.msg)).toContain('metrics-sink stopped');
    } finally {
      release();
    }
  }, 150_000);

  it('rides out a ClickHouse outage: nothing lost, nothing dead-lettered', async () => {
    let release = await holdClickHouseUp();
    world = await createTestWorld();
    const w = world;
    const sink = start();
    const health = String((await sink.waitForLog('metrics-sink started')).health);
    expect(await checkHealth(health)).toBe('SERVING');
    await publishSamples(w.producer, 0, 500);
    await waitUntil(async () => (await tableCounts(w.ch, 'samples')).distinct > 0, 60_000, async () => 'no sample landed');
    release();

    let others: Awaited<ReturnType<typeof publishOtherEvents>> | undefined;
    await withClickHouseOutage(async ({ stop, start: startClickHouse }) => {
      await stop();
      await publishSamples(w.producer, 500, 500);
      others = await publishOtherEvents(w.producer);
      // Let the sink fail a few inserts against the stopped server before it comes back.
      await waitUntil(
        async () => sink.logs.some((l) => l.msg === 'ClickHouse unavailable; retrying batches until it is back'),
        30_000,
        async () => 'the sink never noticed the outage',
      );
      // Load balancers and `select status` see the outage through the standard health service.
      expect(await checkHealth(health)).toBe('NOT_SERVING');
      await startClickHouse();
      await waitForClickHouse(w.ch, { timeoutMs: 60_000 });
    });

    release = await holdClickHouseUp();
    try {
      await expectExactlyOnce({
        samples: 1_000,
        shifts: others!.shifts,
        jobs: others!.jobs,
        training_metrics: others!.training,
        evaluation_results: others!.evaluations,
      });
      expect(await deadLetterCount(w.prefix)).toBe(0);
      expect(sink.logs.map((l) => l.msg)).toContain('ClickHouse is back; inserting again');
      expect(await checkHealth(health)).toBe('SERVING');
      sink.child.kill('SIGTERM');
      expect(await sink.exited).toBe(0);
    } finally {
      release();
    }
  }, 150_000);
});
