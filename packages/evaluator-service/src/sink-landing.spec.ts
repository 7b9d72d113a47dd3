// The whole path of a result: the evaluator publishes EvaluationResult events, the real metrics sink (its own
// process, as deployed) lands them in ClickHouse, the views rank them and GetLeaderboard serves them back.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { evaluatorV1 } from '@select/contracts';
import { createClickHouse, sql, type ClickHouse } from '@select/metrics';
import { createLogger, resolveConfig } from '@select/platform';
import { deleteTopicsWithPrefix, spawnWithJsonLogs, testBrokers, type JsonLogProcess } from '@select/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluatorConfigSchema } from './config.js';
import { call, connect, FIXTURES, REPO, TINY_CLASSIFIER, WNIDS, writeImageFolder, type Client } from './fixtures.test-util.js';
import { startEvaluatorServer, type EvaluatorServer } from './server.js';

describe('results through the metrics sink into ClickHouse', () => {
  const id = randomBytes(4).toString('hex');
  const prefix = `t-evalsink-${id}-`;
  const database = `select_test_evalsink_${id}`;
  let work: string;
  let sink: JsonLogProcess;
  let running: EvaluatorServer;
  let client: Client;
  let ch: ClickHouse;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'evaluator-sink-'));
    sink = spawnWithJsonLogs(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: join(REPO, 'packages/metrics-sink'),
      env: { ...process.env, KAFKA_BROKERS: testBrokers().join(','), KAFKA_TOPIC_PREFIX: prefix, CLICKHOUSE_DATABASE: database, METRICS_SINK_GROUP_ID: `evalsink-${id}`, METRICS_SINK_PORT: '0', LOG_LEVEL: 'info' },
    });
    await sink.waitForLog('metrics-sink started', 90_000);
    const config = resolveConfig(
      evaluatorConfigSchema,
      { dataDir: join(work, 'data'), port: 0, host: '127.0.0.1', kafkaBrokers: testBrokers(), kafkaTopicPrefix: prefix, clickhouseDatabase: database, threads: 1 },
      process.env,
    );
    running = await startEvaluatorServer(config, { logger: createLogger({ service: 'evaluator-sink-test', level: 'silent' }) });
    client = connect(running.address);
    ch = createClickHouse({ database });
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await running?.close();
    sink?.child.kill('SIGTERM');
    await sink?.exited;
    const admin = createClickHouse({ database: 'default' });
    await admin.command(sql`DROP DATABASE IF EXISTS ${sql.id(database)}`);
    await Promise.all([admin.close(), ch?.close()]);
    await rm(work, { recursive: true, force: true });
    await deleteTopicsWithPrefix(prefix);
  });

  it('lands every result once, and the leaderboard ranks the evaluated shift beside a published reference', async () => {
    const val = await writeImageFolder(join(work, 'val'), { [WNIDS[0]]: ['red', 'red'], [WNIDS[1]]: ['green', 'red'], [WNIDS[2]]: ['blue', 'blue'] });
    await call(client, 'EvaluateModel', { evalId: 'alpha-eval', shiftId: 'alpha', checkpointUri: TINY_CLASSIFIER, sets: [{ name: 'imagenet-val', uri: val, format: 'imagefolder' }] });
    expect((await running.runtime.wait('alpha-eval')).state).toBe('JOB_STATE_SUCCEEDED');
    const reference = await call<evaluatorV1.LoadReferenceTableResponse__Output>(client, 'LoadReferenceTable', { shiftId: 'toy-paper', path: join(FIXTURES, 'toy-stats-complete.csv') });
    // alpha: 5 summary metrics + 3 class accuracies + 3 class precisions
    const expected = 11 + Number(reference.resultsPublished);
    const deadline = Date.now() + 60_000;
    let landed = 0;
    while (Date.now() < deadline) {
      landed = await ch
        .query<{ n: string }>(sql`SELECT count() AS n FROM evaluation_results FINAL`)
        .then((r) => Number(r[0]!.n))
        .catch(() => 0);
      if (landed >= expected) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(landed, JSON.stringify(sink.logs.slice(-8))).toBe(expected);

    const board = await call<evaluatorV1.Leaderboard__Output>(client, 'GetLeaderboard', { benchmark: 'imagenet-val', metric: 'top1', referenceShift: 'toy-paper' });
    expect(board.rows.map((r) => [r.shiftId, r.rank, Number(r.mean.toFixed(2)), Number(r.gap.toFixed(2))])).toEqual([
      ['alpha', 1, 83.33, 20.83], // 5 of 6
      ['toy-paper', 2, 62.5, 0], // mean of 90, 70, 40, 50
    ]);
    // the same from the views, as a SQL user sees it
    const ranked = await ch.query<{ shift_id: string; rank: string | number }>(sql`SELECT shift_id, rank FROM evaluation_leaderboard_ranked WHERE benchmark = 'imagenet-val' AND metric = 'top1' ORDER BY rank`);
    expect(ranked.map((r) => [r.shift_id, Number(r.rank)])).toEqual([
      ['alpha', 1],
      ['toy-paper', 2],
    ]);
    const perClass = await ch.query<{ class_index: number; value: number }>(
      sql`SELECT class_index, value FROM evaluation_class_results WHERE shift_id = 'alpha' AND metric = 'class_accuracy' ORDER BY class_index`,
    );
    expect(perClass.map((r) => [Number(r.class_index), Number(r.value)])).toEqual([
      [0, 100],
      [1, 50],
      [2, 100],
    ]);
  }, 120_000);
});
