// `select report` end to end in-process: the sink's real migrations in a fresh database, EvaluationResult rows as
// the sink writes them, the report file written; an unreachable ClickHouse exits 3 with a hint.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShiftWriter } from '@select/datasets';
import { createClickHouse, runMigrations, sql, type ClickHouse } from '@select/metrics';
import { METRICS_SINK_MIGRATIONS, TABLE_COLUMNS } from '@select/metrics-sink';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli } from './program.js';

function row(shiftId: string, benchmark: string, metric: string, value: number, params: Record<string, unknown>, offset: number): Record<string, unknown> {
  return {
    event_id: `e${offset}`,
    event_time: '2026-01-01 00:00:00',
    event_time_ms: 0,
    source: 'evaluator',
    kafka_partition: 0,
    kafka_offset: String(offset),
    ingested_at: '2026-01-01 00:00:00',
    eval_id: `eval-${shiftId}`,
    run_id: '',
    shift_id: shiftId,
    model_id: 'm',
    benchmark,
    metric,
    value,
    num_samples: '10',
    params_json: JSON.stringify({ kind: 'evaluate-model', seed: 0, ...params }),
  };
}

describe('select report', () => {
  const database = `select_test_report_${randomBytes(4).toString('hex')}`;
  let admin: ClickHouse;
  let ch: ClickHouse;
  let dir: string;
  let shiftDir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'select-report-'));
    admin = createClickHouse({ database: 'default' });
    await admin.command(sql`CREATE DATABASE ${sql.id(database)}`);
    ch = createClickHouse({ database });
    await runMigrations(ch, METRICS_SINK_MIGRATIONS);
    let offset = 0;
    const rows = [
      row('shift-alpha', 'imagenet-val', 'top1', 61.5, {}, offset++),
      row('shift-beta', 'imagenet-val', 'top1', 40.25, {}, offset++),
      ...[80, 20].map((v, c) => row('shift-alpha', 'imagenet-val', 'class_accuracy', v, { class_index: c, class_name: `c${c}` }, offset++)),
      ...[900, 12].map((v, c) => row('shift-alpha', 'shift-analytics', 'class_count', v, { class_index: c, class_name: `c${c}`, kind: 'analyze-shift' }, offset++)),
    ];
    await ch.insert('evaluation_results', rows, TABLE_COLUMNS.evaluation_results);
    // the curator's decisions of one build: 3 kept, 2 dropped at the match, 1 at the contamination gate
    const decision = (source: string, step: string, kept: number, reason: string) =>
      sql`(${'shift-alpha'}, ${source}, 0, ${step}, 1, ${kept}, ${reason}, 0.5, 0, ${'substring'}, ${'pool'}, ${'t'}, toDateTime('2026-01-01 00:00:00', 'UTC'))`;
    await ch.command(sql`INSERT INTO curation_decisions VALUES ${sql.join([
      decision('a', 'match', 1, ''),
      decision('b', 'match', 1, ''),
      decision('c', 'match', 1, ''),
      decision('d', 'match', 0, 'no lemma'),
      decision('e', 'match', 0, 'no lemma'),
      decision('f', 'contamination', 0, 'near an evaluation image'),
    ])}`);
    // a shift on disk for the sample grid
    shiftDir = join(dir, 'shift-alpha');
    const writer = await ShiftWriter.open(shiftDir, { name: 'shift-alpha', strategy: 'test', classes: ['n01440764', 'n01443537'] });
    for (let i = 0; i < 3; i++) {
      const image = await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 200, g: 40 * i, b: 10 } } }).png().toBuffer();
      await writer.add({ sourceId: `s${i}`, classIndex: i % 2, image });
    }
    await writer.close();
  });
  afterAll(async () => {
    await admin.command(sql`DROP DATABASE IF EXISTS ${sql.id(database)}`);
    await Promise.all([admin.close(), ch.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  /** `select report <args>` in-process against the test database: its exit code and what it printed. */
  async function report(args: string[]): Promise<{ code: number; printed: string }> {
    const printed: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      printed.push(String(chunk));
      return true;
    });
    try {
      return { code: await runCli(['node', 'select', 'report', '--database', database, ...args]), printed: printed.join('') };
    } finally {
      spy.mockRestore();
    }
  }

  it('writes the HTML report of what ClickHouse holds', async () => {
    const out = join(dir, 'nested', 'report.html');
    const { code, printed } = await report(['--out', out, '--reference', 'shift-alpha', '--title', 'Test report', '--shift-dir', `shift-alpha=${shiftDir}`]);
    expect(code).toBe(0);
    expect(printed).toContain(`report: ${out} (2 leaderboard rows, 1 shifts with class counts, 1 sample grids)`);
    const html = await readFile(out, 'utf8');
    expect(html).toContain('<title>Test report</title>');
    expect(html).toMatch(/<td>shift-beta<\/td><td class="num">40\.25<\/td>.*<td class="num">-21\.25<\/td>/);
    // the funnel from the curator's decisions, and thumbnails of the shift's classes
    expect(html).toContain('<td>substring</td><td>shift-alpha</td><td>match</td><td>kept</td><td></td><td class="num">3</td>');
    expect(html).toContain('<td>contamination</td><td>dropped</td><td>near an evaluation image</td><td class="num">1</td>');
    expect(html).toContain('<h3>shift-alpha</h3>');
    expect(html.match(/<img src="data:image\/jpeg;base64,/g)).toHaveLength(3);
  });

  it('--shift keeps every section to the shifts named (a run\'s own report when the database holds others)', async () => {
    const out = join(dir, 'beta.html');
    const { code, printed } = await report(['--out', out, '--shift', 'shift-beta', '--shift-dir', `shift-alpha=${shiftDir}`]);
    expect(code).toBe(0);
    expect(printed).toContain(`report: ${out} (1 leaderboard rows, 0 shifts with class counts, 0 sample grids)`);
    const html = await readFile(out, 'utf8');
    expect(html).toContain('<td>shift-beta</td>');
    expect(html).not.toContain('shift-alpha');
  });

  it('exits 3 with a hint when ClickHouse does not answer', async () => {
    const previous = process.env['CLICKHOUSE_URL'];
    process.env['CLICKHOUSE_URL'] = 'http://127.0.0.1:1';
    const errors: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      errors.push(String(chunk));
      return true;
    });
    try {
      expect(await runCli(['node', 'select', 'report', '--out', join(dir, 'never.html')])).toBe(3);
    } finally {
      spy.mockRestore();
      if (previous === undefined) delete process.env['CLICKHOUSE_URL'];
      else process.env['CLICKHOUSE_URL'] = previous;
    }
    expect(errors.join('')).toMatch(/cannot read the evaluation results from ClickHouse/);
  }, 60_000);
});
