import { checkHealth, createLogger } from '@select/platform';
import { EVENT_TYPES, type EventEnvelope } from '@select/events';
import { rowBinarySupports, sql } from '@select/metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { holdClickHouseUp } from '@select/testing';
import { resolveMetricsSinkConfig } from './config.js';
import { TABLE_COLUMNS } from './schema.js';
import { createMetricsSink, type MetricsSink } from './sink.js';
import {
  createTestWorld,
  deadLetterCount,
  groupCaughtUp,
  publishOtherEvents,
  publishSamples,
  sample,
  tableCounts,
  waitUntil,
  type OtherEvents,
  type TestWorld,
} from './sink-test-kit.test-util.js';

const SAMPLES = 200;

describe('metrics-sink (in process)', () => {
  let world: TestWorld;
  let release: () => void;
  let others: OtherEvents;
  let envelope: EventEnvelope;
  const sinks: MetricsSink[] = [];

  const startSink = async (groupId: string): Promise<void> => {
    const config = resolveMetricsSinkConfig({ topicPrefix: world.prefix, groupId, port: 0, maxBatch: 50 });
    const sink = createMetricsSink({
      config,
      logger: createLogger({ service: 'metrics-sink-test', level: 'silent' }),
      clickhouse: { database: world.database },
    });
    sinks.push(sink);
    await sink.start();
    await waitUntil(
      () => groupCaughtUp(world.prefix, groupId),
      60_000,
      async () => `group ${groupId} did not catch up`,
    );
  };

  beforeAll(async () => {
    release = await holdClickHouseUp();
    world = await createTestWorld();
    envelope = await world.producer.publish('samples', EVENT_TYPES.SampleCurated, sample(SAMPLES - 1));
    await publishSamples(world.producer, 0, SAMPLES - 1);
    others = await publishOtherEvents(world.producer);
    await startSink('select-metrics-sink');
  }, 120_000);

  afterAll(async () => {
    for (const sink of sinks) await sink.stop();
    await world?.cleanup();
    release?.();
  });

  it('materialises every event exactly once per table', async () => {
    const expected = {
      samples: SAMPLES,
      shifts: others.shifts,
      jobs: others.jobs,
      training_metrics: others.training,
      evaluation_results: others.evaluations,
    };
    for (const [table, n] of Object.entries(expected)) {
      expect(await tableCounts(world.ch, table), table).toMatchObject({ distinct: n, final: n });
    }
    expect(await deadLetterCount(world.prefix)).toBe(0);
  });

  it('lands every table as RowBinary: each column it inserts has a type the encoder writes (no JSON fallback)', async () => {
    const rows = await world.ch.query<{ table: string; name: string; type: string }>(
      sql`SELECT table, name, type FROM system.columns WHERE database = ${world.database}`,
    );
    for (const [table, columns] of Object.entries(TABLE_COLUMNS)) {
      const types = columns.map((name) => ({ name, type: rows.find((r) => r.table === table && r.name === name)?.type ?? 'missing' }));
      expect(rowBinarySupports(types), `${table}: ${JSON.stringify(types)}`).toBe(true);
    }
  });

  it('answers the standard gRPC health check (grpc.health.v1) on its health port: SERVING', async () => {
    const [sink] = sinks;
    expect(sink?.healthAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(await checkHealth(sink?.healthAddress ?? '')).toBe('SERVING');
  });

  it('keeps the envelope and flattens the payload, 64-bit integers and NaN included', async () => {
    const [row] = await world.ch.query<Record<string, unknown>>(
      sql`SELECT *, toUnixTimestamp(event_time) AS unix, isNaN(provenance_score) AS no_score FROM samples FINAL WHERE event_id = ${envelope.id}`,
    );
    const i = SAMPLES - 1; // 199: odd, so it has a prompt and a seed above 2^53; 199 % 7 != 0, so a score
    expect(row).toMatchObject({
      source: 'metrics-sink-test',
      unix: Math.floor(envelope.time.getTime() / 1000),
      event_time_ms: envelope.time.getTime() % 1000,
      shift_id: sample(i).shiftId,
      sample_id: sample(i).sampleId,
      class_index: 9,
      key: '000000199',
      provenance_model_ids: ['clip-vit-b32@0a1b2c'],
      provenance_prompt: 'A photo of class 9',
      provenance_seed: String(9_007_199_254_740_993n + 199n),
      provenance_score: 0.199,
      no_score: 0,
    });
    expect(JSON.parse(row?.provenance_extra as string)).toEqual({ note: `it's sample "199"` });
    const nanScores = await world.ch.query<{ n: string }>(sql`SELECT count() AS n FROM samples FINAL WHERE isNaN(provenance_score)`);
    expect(Number(nanScores[0]?.n)).toBe(Array.from({ length: SAMPLES }, (_, k) => k).filter((k) => k % 7 === 0).length);
  });

  // The queries below are the ones the README shows; keep them in sync.
  it('answers the README queries: class counts per shift, training curves, leaderboard, status views', async () => {
    const classCounts = await world.ch.queryReadOnly<{ shift_id: string; class_index: number; samples: string }>(
      `SELECT shift_id, class_index, samples FROM shift_class_counts WHERE shift_id = 'in1000' ORDER BY class_index`,
    );
    // sample i goes to shift i % 5 and class i % 10: in1000 gets i = 0, 5, 10, ... → classes 0 and 5.
    expect(classCounts).toEqual([
      { shift_id: 'in1000', class_index: 0, samples: '20' },
      { shift_id: 'in1000', class_index: 5, samples: '20' },
    ]);

    const perShift = await world.ch.queryReadOnly<{ shift_id: string; samples: string; classes: string }>(
      `SELECT shift_id, count() AS samples, uniqExact(class_index) AS classes FROM samples FINAL GROUP BY shift_id ORDER BY shift_id`,
    );
    expect(perShift).toHaveLength(5);
    expect(perShift.every((r) => r.samples === '40' && r.classes === '2')).toBe(true);

    const longTail = await world.ch.queryReadOnly<{ lt500: string }>(
      `SELECT shift_id, countIf(samples < 500) AS lt500 FROM shift_class_counts GROUP BY shift_id`,
    );
    expect(longTail.map((r) => r.lt500)).toEqual(['2', '2', '2', '2', '2']);

    const curve = await world.ch.queryReadOnly<{ step: string; loss: number }>(
      `SELECT step, argMax(value, (event_time, event_time_ms, kafka_offset)) AS loss
       FROM training_metrics FINAL
       WHERE run_id = 'run-in1000' AND split = 'train' AND name = 'loss'
       GROUP BY step ORDER BY step`,
    );
    expect(curve.map((r) => [Number(r.step), r.loss])).toEqual(Array.from({ length: 10 }, (_, s) => [s * 100, 7 - s * 0.5]));

    const leaderboard = await world.ch.queryReadOnly<{ shift_id: string; value: number }>(
      `SELECT shift_id, value FROM leaderboard WHERE benchmark = 'imagenet-val' AND metric = 'top1' ORDER BY value DESC`,
    );
    expect(leaderboard).toEqual([
      { shift_id: 'in1000', value: 78 },
      { shift_id: 'la1000-img2img', value: 59.6 },
      { shift_id: 'oi1000', value: 42.3 },
    ]);

    const shift = await world.ch.queryReadOnly<{ phase: string; sample_count: string }>(
      `SELECT phase, sample_count FROM shift_status WHERE shift_id = 'oi1000'`,
    );
    expect(shift).toEqual([{ phase: 'SHIFT_PHASE_COMPLETED', sample_count: '1003' }]);

    const job = await world.ch.queryReadOnly<{ state: string; done: string; total: string }>(
      `SELECT state, done, total FROM job_status WHERE job_id = 'job-1'`,
    );
    expect(job).toEqual([{ state: 'JOB_STATE_SUCCEEDED', done: '300', total: '300' }]);
  });

  it('a full replay (a new consumer group reading from the beginning) adds no rows', async () => {
    const before = await tableCounts(world.ch, 'samples');
    await startSink('replay-group');
    const after = await tableCounts(world.ch, 'samples');
    // Every event was inserted a second time (raw rows stay doubled until background merges collapse them),
    // yet every query through FINAL or the views still counts each event once.
    expect(after.raw).toBeGreaterThanOrEqual(before.raw);
    expect(after).toMatchObject({ distinct: SAMPLES, final: SAMPLES });
    const leaderboard = await world.ch.queryReadOnly<{ n: string }>(`SELECT count() AS n FROM leaderboard`);
    expect(leaderboard).toEqual([{ n: '3' }]);
  }, 90_000);
});
