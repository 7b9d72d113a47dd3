// CandidateDecisions events in both shapes through Kafka into ClickHouse: an old producer's (every decision
// carries its shift, strategy, source, task and step) and a compact one's (the batch carries them once, each
// decision only what is its own, and its own step or source where it differs). Both must give the same rows
// and the same answers to the curator README's two questions.
import { createLogger } from '@select/platform';
import type { CandidateDecision, CandidateDecisions } from '@select/contracts';
import { EVENT_TYPES } from '@select/events';
import { sql } from '@select/metrics';
import { holdClickHouseUp } from '@select/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveMetricsSinkConfig } from './config.js';
import { createMetricsSink, type MetricsSink } from './sink.js';
import { createTestWorld, deadLetterCount, groupCaughtUp, waitUntil, type TestWorld } from './sink-test-kit.test-util.js';

const STRATEGY = 'substring-match';
const POOL = 'laion-sample';

/** One task's decisions, as the curator's task runner makes them (step, stage and source per decision). */
const DECISIONS: Array<Required<Pick<CandidateDecision, 'sourceId' | 'step' | 'stage' | 'kept' | 'reason' | 'score' | 'classIndex' | 'source'>> & { seed?: string }> = [
  { sourceId: 'c0', step: STRATEGY, stage: 1, kept: true, reason: 'kept', score: Number.NaN, classIndex: 3, source: POOL },
  { sourceId: 'c1', step: STRATEGY, stage: 1, kept: false, reason: 'no-lemma', score: Number.NaN, classIndex: -1, source: POOL },
  { sourceId: 'c2', step: STRATEGY, stage: 1, kept: true, reason: 'kept', score: Number.NaN, classIndex: 0, source: POOL },
  { sourceId: 'c3', step: 'read', stage: 0, kept: false, reason: 'bad-record: line is not {"id": string, "caption": string}', score: Number.NaN, classIndex: -1, source: POOL },
  { sourceId: 'c4', step: STRATEGY, stage: 1, kept: false, reason: 'several-synsets', score: Number.NaN, classIndex: -1, source: POOL },
  { sourceId: 'c5', step: STRATEGY, stage: 1, kept: true, reason: 'kept', score: 0.25, classIndex: 3, source: 'openimages:machine' },
  { sourceId: 'c6', step: STRATEGY, stage: 1, kept: true, reason: 'kept', score: Number.NaN, classIndex: 3, source: POOL, seed: '9007199254740993' },
];

/** Before the batch fields: every decision says everything. */
function oldShape(shiftId: string): CandidateDecisions {
  return { shiftId, decisions: DECISIONS.map((d) => ({ ...d, shiftId, strategy: STRATEGY, taskId: 't0' })) };
}

/** The batch's common values once; each decision's own fields only where they differ from the batch's. */
function compactShape(shiftId: string): CandidateDecisions {
  return {
    shiftId,
    strategy: STRATEGY,
    taskId: 't0',
    step: STRATEGY,
    source: POOL,
    decisions: DECISIONS.map(({ step, source, ...own }) => ({ ...own, ...(step === STRATEGY ? {} : { step }), ...(source === POOL ? {} : { source }) })),
  };
}

describe('metrics-sink: CandidateDecisions with and without batch-level fields', () => {
  let world: TestWorld;
  let release: () => void;
  let sink: MetricsSink;

  beforeAll(async () => {
    release = await holdClickHouseUp();
    world = await createTestWorld();
    await world.producer.publish('decisions', EVENT_TYPES.CandidateDecisions, oldShape('old-shape'));
    await world.producer.publish('decisions', EVENT_TYPES.CandidateDecisions, compactShape('compact'));
    const groupId = 'decisions-sink';
    sink = createMetricsSink({
      config: resolveMetricsSinkConfig({ topicPrefix: world.prefix, groupId, port: 0 }),
      logger: createLogger({ service: 'metrics-sink-test', level: 'silent' }),
      clickhouse: { database: world.database },
    });
    await sink.start();
    await waitUntil(() => groupCaughtUp(world.prefix, groupId), 60_000, async () => `group ${groupId} did not catch up`);
  }, 120_000);

  afterAll(async () => {
    await sink?.stop();
    await world?.cleanup();
    release?.();
  });

  // (`finite_score`, not `score`: a ClickHouse alias is visible in the whole SELECT and would shadow the column.)
  type Row = { source_id: string; seed: string; step: string; stage: number; kept: number; reason: string; no_score: number; finite_score: number; class_index: number; strategy: string; source: string; task_id: string };
  const rowsOf = (shiftId: string) =>
    world.ch.query<Row>(
      sql`SELECT source_id, seed, step, stage, kept, reason, isNaN(score) AS no_score, if(isNaN(score), 0, score) AS finite_score, class_index, strategy, source, task_id
          FROM curation_decisions FINAL WHERE shift_id = ${shiftId} ORDER BY source_id`,
    );

  it('lands one row per decision with the batch values filled in, the same rows as the old shape', async () => {
    const compact = await rowsOf('compact');
    expect(compact).toEqual(
      DECISIONS.map((d) => ({
        source_id: d.sourceId,
        seed: d.seed ?? '0',
        step: d.step,
        stage: d.stage,
        kept: d.kept ? 1 : 0,
        reason: d.reason,
        no_score: Number.isNaN(d.score) ? 1 : 0,
        finite_score: Number.isNaN(d.score) ? 0 : d.score,
        class_index: d.classIndex,
        strategy: STRATEGY,
        source: d.source,
        task_id: 't0',
      })),
    );
    expect(await rowsOf('old-shape')).toEqual(compact);
    expect(await deadLetterCount(world.prefix)).toBe(0);
  });

  it("gives the README's answers for both: why a candidate was dropped, and kept samples per class, strategy and source", async () => {
    const why = (shiftId: string, sourceId: string) =>
      world.ch.query<{ step: string; reason: string; kept: number }>(
        sql`SELECT step, reason, kept FROM curation_decisions FINAL WHERE shift_id = ${shiftId} AND source_id = ${sourceId}`,
      );
    for (const shiftId of ['old-shape', 'compact']) {
      expect(await why(shiftId, 'c3')).toEqual([{ step: 'read', reason: 'bad-record: line is not {"id": string, "caption": string}', kept: 0 }]);
      expect(await why(shiftId, 'c4')).toEqual([{ step: STRATEGY, reason: 'several-synsets', kept: 0 }]);
    }
    const perClass = await world.ch.query<{ shift_id: string; strategy: string; class_index: number; source: string; samples: string }>(
      sql`SELECT shift_id, strategy, class_index, source, count() AS samples FROM curation_decisions FINAL WHERE kept = 1
          GROUP BY shift_id, strategy, class_index, source ORDER BY shift_id, strategy, class_index, source`,
    );
    const expected = [
      [STRATEGY, 0, POOL, '1'],
      [STRATEGY, 3, POOL, '2'],
      [STRATEGY, 3, 'openimages:machine', '1'],
    ];
    expect(perClass.map((r) => [r.shift_id, r.strategy, r.class_index, r.source, r.samples])).toEqual([
      ...expected.map((r) => ['compact', ...r]),
      ...expected.map((r) => ['old-shape', ...r]),
    ]);
    // The views read the same table: the drops per step and reason agree too.
    const drops = await world.ch.query<{ shift_id: string; step: string; reason: string; candidates: string }>(
      sql`SELECT shift_id, step, reason, candidates FROM curation_drops ORDER BY shift_id, step, reason`,
    );
    const dropped = [
      ['read', 'bad-record: line is not {"id": string, "caption": string}', '1'],
      [STRATEGY, 'no-lemma', '1'],
      [STRATEGY, 'several-synsets', '1'],
    ];
    expect(drops.map((r) => [r.shift_id, r.step, r.reason, r.candidates])).toEqual([...dropped.map((r) => ['compact', ...r]), ...dropped.map((r) => ['old-shape', ...r])]);
  });
});
