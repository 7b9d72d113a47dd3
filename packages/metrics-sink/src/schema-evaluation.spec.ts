// The evaluator's views and README queries, on the server's ClickHouse (18.16 here) and on current ClickHouse
// (chdb in the project's Python environment), from rows the sink's own mapping makes out of EvaluationResult events.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { EvaluationResult } from '@select/contracts';
import { EVENT_TYPES, type ReceivedEvent } from '@select/events';
import { createClickHouse, runMigrations, sql, type ClickHouse } from '@select/metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventToRow } from './event-rows.js';
import { EVALUATION_EXAMPLE_QUERIES } from './schema-evaluation.js';
import { METRICS_SINK_MIGRATIONS, TABLE_COLUMNS } from './schema.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../../../', import.meta.url));

let offset = 0;
function result(shiftId: string, benchmark: string, metric: string, value: number, params: Record<string, unknown>, at = '2026-01-01T00:00:00Z', id?: string) {
  const payload: EvaluationResult = {
    evalId: `e-${shiftId}-${String(params['seed'] ?? 0)}`,
    runId: '',
    shiftId,
    modelId: 'm',
    benchmark,
    metric,
    value,
    numSamples: '50',
    // the evaluator writes canonical (key-sorted, space-free) JSON
    paramsJson: JSON.stringify(Object.fromEntries(Object.entries({ kind: 'evaluate-model', seed: 0, ...params }).sort(([a], [b]) => (a < b ? -1 : 1)))),
  };
  const event: ReceivedEvent = {
    envelope: { id: id ?? `ev-${offset}`, type: EVENT_TYPES.EvaluationResult, schemaVersion: 1, time: new Date(at), source: 'evaluator', contentType: 'application/x-protobuf' } as ReceivedEvent['envelope'],
    payload,
    topic: 'select.evaluations.v1',
    partition: 0,
    offset: String(offset++),
    key: payload.evalId ?? null,
  };
  return eventToRow(event, new Date('2026-01-01T00:00:00Z')).row;
}

const ROWS = [
  result('in1000', 'imagenet-val', 'top1', 78, { seed: 0 }),
  result('in1000', 'imagenet-val', 'top1', 77, { seed: 1 }),
  result('in1000', 'imagenet-val', 'top1', 79, { seed: 2 }),
  result('oi1000', 'imagenet-val', 'top1', 42.3, { seed: 0 }),
  result('oi1000', 'imagenet-val', 'top1', 43.3, { seed: 1 }),
  result('la1000', 'imagenet-val', 'top1', 59.6, { seed: 0 }, '2026-01-01T00:00:00Z', 'la-old'),
  // a re-evaluation of the same seed later replaces the score; a replayed event (same id) lands once
  result('la1000', 'imagenet-val', 'top1', 60, { seed: 0 }, '2026-01-02T00:00:00Z', 'la-new'),
  result('la1000', 'imagenet-val', 'top1', 60, { seed: 0 }, '2026-01-02T00:00:00Z', 'la-new'),
  result('in1000', 'imagenet-val', 'nll', 1.0, { seed: 0 }),
  result('oi1000', 'imagenet-val', 'nll', 2.5, { seed: 0 }),
  ...[90, 10, 50, 0].map((v, c) => result('oi1000', 'imagenet-val', 'class_accuracy', v, { class_index: c, class_name: `n0000000${c}` })),
  ...[1300, 3, 200, 0].map((v, c) => result('oi1000', 'shift-analytics', 'class_count', v, { class_index: c, class_name: `n0000000${c}`, kind: 'analyze-shift' })),
];

const EXPECTED_TOP1 = [
  // in1000: 78 +- 4.303 * 1 / sqrt(3); la1000 a single run (60); oi1000: 42.8 +- 12.706 * 0.7071 / sqrt(2)
  { benchmark: 'imagenet-val', shift_id: 'in1000', top1: 78, ci_low: 75.52, ci_high: 80.48, seeds: 3, rank: 1 },
  { benchmark: 'imagenet-val', shift_id: 'la1000', top1: 60, ci_low: 60, ci_high: 60, seeds: 1, rank: 2 },
  { benchmark: 'imagenet-val', shift_id: 'oi1000', top1: 42.8, ci_low: 36.45, ci_high: 49.15, seeds: 2, rank: 3 },
];
const EXPECTED_CLASSES = [
  { class_index: 0, class_name: 'n00000000', class_count: 1300, accuracy: 90 },
  { class_index: 2, class_name: 'n00000002', class_count: 200, accuracy: 50 },
  { class_index: 1, class_name: 'n00000001', class_count: 3, accuracy: 10 },
  { class_index: 3, class_name: 'n00000003', class_count: 0, accuracy: 0 },
];
const EXPECTED_GAP = [
  { benchmark: 'imagenet-val', shift_id: 'in1000', top1: 78, gap_to_in1000: 0 },
  { benchmark: 'imagenet-val', shift_id: 'la1000', top1: 60, gap_to_in1000: -18 },
  { benchmark: 'imagenet-val', shift_id: 'oi1000', top1: 42.8, gap_to_in1000: -35.2 },
];

/** JSON numbers and UInt64-as-string alike, for comparing both servers' answers. */
const plain = (rows: Array<Record<string, unknown>>) =>
  rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v])));

describe('evaluation views', () => {
  let ch: ClickHouse;
  let admin: ClickHouse;
  const database = `select_test_evalviews_${Math.random().toString(16).slice(2, 10)}`;
  beforeAll(async () => {
    admin = createClickHouse({ database: 'default' });
    await admin.command(sql`CREATE DATABASE ${sql.id(database)}`);
    ch = createClickHouse({ database });
    await runMigrations(ch, METRICS_SINK_MIGRATIONS);
    await ch.insert('evaluation_results', ROWS, TABLE_COLUMNS.evaluation_results);
  });
  afterAll(async () => {
    await admin.command(sql`DROP DATABASE IF EXISTS ${sql.id(database)}`);
    await Promise.all([ch.close(), admin.close()]);
  });

  it('answer the README queries on the server’s ClickHouse', async () => {
    expect(plain(await ch.queryReadOnly(EVALUATION_EXAMPLE_QUERIES.top1EveryShift))).toEqual(EXPECTED_TOP1);
    expect(plain(await ch.queryReadOnly(EVALUATION_EXAMPLE_QUERIES.perClassAccuracyVsCountOi1000))).toEqual(EXPECTED_CLASSES);
    expect(plain(await ch.queryReadOnly(EVALUATION_EXAMPLE_QUERIES.gapToIn1000))).toEqual(EXPECTED_GAP);
    // NLL ranks smaller-first
    const nll = await ch.queryReadOnly<{ shift_id: string; rank: string | number }>(
      `SELECT shift_id, rank FROM evaluation_leaderboard_ranked WHERE metric = 'nll' ORDER BY rank`,
    );
    expect(plain(nll)).toEqual([
      { shift_id: 'in1000', rank: 1 },
      { shift_id: 'oi1000', rank: 2 },
    ]);
  });

  it('give the same answers on current ClickHouse (chdb)', async () => {
    const statements = [
      ...METRICS_SINK_MIGRATIONS.filter((m) => m.sql.includes('evaluation_results') || m.id.startsWith('02')).map((m) => m.sql),
      `INSERT INTO evaluation_results FORMAT JSONEachRow ${ROWS.map((r) => JSON.stringify({ ...r, event_time: toSeconds(r['event_time']), ingested_at: toSeconds(r['ingested_at']) })).join(' ')}`,
    ];
    const python = (await run('bash', ['scripts/python-env.sh'], { cwd: REPO })).stdout.trim().split('\n').pop()!;
    const child = run(python, ['tools/evaluator/chdb_views.py'], { cwd: REPO, maxBuffer: 1 << 24 });
    child.child.stdin!.end(JSON.stringify({ statements, queries: EVALUATION_EXAMPLE_QUERIES }));
    const out = JSON.parse((await child).stdout.trim().split('\n').pop()!) as { version: string; results: Record<string, Array<Record<string, unknown>>> };
    expect(Number(out.version.split('.')[0])).toBeGreaterThanOrEqual(23);
    expect(plain(out.results['top1EveryShift']!)).toEqual(EXPECTED_TOP1);
    expect(plain(out.results['perClassAccuracyVsCountOi1000']!)).toEqual(EXPECTED_CLASSES);
    expect(plain(out.results['gapToIn1000']!)).toEqual(EXPECTED_GAP);
  }, 120_000);

  it('are the queries the evaluator README shows', () => {
    const readme = readFileSync(new URL('../../evaluator-service/README.md', import.meta.url), 'utf8');
    for (const query of Object.values(EVALUATION_EXAMPLE_QUERIES)) expect(readme).toContain(query);
  });
});

function toSeconds(value: unknown): string {
  return (value instanceof Date ? value : new Date(String(value))).toISOString().slice(0, 19).replace('T', ' ');
}
