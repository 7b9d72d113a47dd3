// The built `select` run as a child process against the real Kafka and ClickHouse, each test in its own
// database and topic prefix.
import { randomBytes } from 'node:crypto';
import { createClickHouse, sql, type ClickHouse } from '@select/metrics';
import { deleteTopicsWithPrefix, holdClickHouseUp } from '@select/testing';
import { ensureTopics, TOPICS } from '@select/events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, runSelect, startSelect } from './cli.test-util.js';

// The infrastructure the tests run against, as the CLI reports it (CI may point elsewhere than the defaults).
const KAFKA_BROKER = (process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092').split(',')[0]!;
const CLICKHOUSE_URL = (process.env['CLICKHOUSE_URL'] ?? 'http://127.0.0.1:8123').replace(/\/+$/, '');
const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** Every registered event topic and its dead-letter topic. */
const TOPIC_COUNT = Object.keys(TOPICS).length * 2;

const id = randomBytes(4).toString('hex');
const database = `select_test_cli_${id}`;
const prefix = `t-cli-${id}-`;
let admin: ClickHouse;
let release: () => void;

beforeAll(async () => {
  release = await holdClickHouseUp();
  admin = createClickHouse({ database: 'default' });
  await Promise.all([buildCli(), admin.command(sql`CREATE DATABASE ${sql.id(database)}`)]);
  await admin.command(sql`CREATE TABLE ${sql.id(database)}.runs (run_id String, shift_id String, top1 Float64, note String) ENGINE = MergeTree() ORDER BY run_id`);
  await admin.insert(
    `${database}.runs`,
    [
      { run_id: 'run-1', shift_id: 'in1000', top1: 78, note: 'line one\nline two' },
      { run_id: 'run-2', shift_id: 'oi1000', top1: 42.3, note: "it's" },
    ],
    ['run_id', 'shift_id', 'top1', 'note'],
  );
}, 120_000);

afterAll(async () => {
  await admin?.command(sql`DROP DATABASE IF EXISTS ${sql.id(database)}`);
  await admin?.close();
  await deleteTopicsWithPrefix(prefix);
  release?.();
});

describe('select (built, as a child process)', () => {
  it('lists every command in --help, gives each its own help, and exits 2 on a wrong command line', async () => {
    const help = await runSelect(['--help']);
    expect(help.code).toBe(0);
    for (const command of ['infra', 'sink', 'sql', 'topics', 'status']) expect(help.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));

    const sqlHelp = await runSelect(['sql', '--help']);
    expect(sqlHelp.code).toBe(0);
    expect(sqlHelp.stdout).toContain('--format <format>');
    expect(sqlHelp.stdout).toContain('read-only');

    expect((await runSelect(['infra', 'logs', '--help'])).stdout).toContain('--follow');
    expect(await runSelect(['frobnicate'])).toMatchObject({ code: 2, stderr: expect.stringContaining("unknown command 'frobnicate'") });
    expect(await runSelect(['sql'])).toMatchObject({ code: 2, stderr: expect.stringContaining("missing required argument 'query'") });
  });

  it('sql: prints a SELECT as an aligned table: numbers right-aligned, one line per row', async () => {
    const result = await runSelect(['sql', 'SELECT run_id, shift_id, top1, note FROM runs ORDER BY run_id'], {
      CLICKHOUSE_DATABASE: database,
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      [
        'run_id  shift_id  top1  note',
        '------  --------  ----  ------------------',
        'run-1   in1000      78  line one\\nline two',
        "run-2   oi1000    42.3  it's",
        '(2 rows)',
        '',
      ].join('\n'),
    );
  });

  it('sql --format json: rows as JSON objects for scripts', async () => {
    const result = await runSelect(['sql', '--database', database, '--format', 'json', 'SELECT run_id, top1 FROM runs ORDER BY run_id']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([
      { run_id: 'run-1', top1: 78 },
      { run_id: 'run-2', top1: 42.3 },
    ]);
  });

  it('sql: an INSERT is refused with a clear message, exit 1, and the table is unchanged', async () => {
    const result = await runSelect(['sql', "INSERT INTO runs VALUES ('run-3', 'x', 1, '')"], { CLICKHOUSE_DATABASE: database });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^select: refused: read-only queries may only SELECT.*got INSERT/);
    expect(result.stderr).toContain('read-only ClickHouse user');

    // The server refuses too, not only the CLI's first check: the reader's profile is readonly=1.
    const setting = await runSelect(['sql', 'SELECT 1 SETTINGS max_threads = 1'], { CLICKHOUSE_DATABASE: database });
    expect(setting.code).toBe(1);
    expect(setting.stderr).toMatch(/refused: .*readonly/i);

    const [count] = await admin.query<{ n: string }>(sql`SELECT count() AS n FROM ${sql.id(database)}.runs`);
    expect(count?.n).toBe('2');
  });

  it('sql: a bad statement is reported from ClickHouse, exit 1', async () => {
    const result = await runSelect(['sql', 'SELECT * FROM no_such_table'], { CLICKHOUSE_DATABASE: database });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^select: ClickHouse rejected the query: .*no_such_table/);
  });

  it('sql: an unreachable ClickHouse names the URL and how to start it, exit 3', async () => {
    const result = await runSelect(['sql', 'SELECT 1'], { CLICKHOUSE_URL: 'http://127.0.0.1:1' });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('ClickHouse is unreachable at http://127.0.0.1:1');
    expect(result.stderr).toContain('select infra up');
    expect(result.stderr).toContain('CLICKHOUSE_URL');
  });

  it('topics: shows missing topics, then the select.*.v1 topics with their partitions once they exist', async () => {
    const before = await runSelect(['topics', '--prefix', prefix]);
    expect(before.code).toBe(0);
    expect(before.stdout).toMatch(new RegExp(`^${prefix}select\\.samples\\.v1 +missing +6`, 'm'));
    expect(before.stdout).toContain(`0 of ${TOPIC_COUNT} topics exist`);

    await ensureTopics({ clientId: 'cli-test', topicPrefix: prefix });
    const after = await runSelect(['topics'], { KAFKA_TOPIC_PREFIX: prefix });
    expect(after.code).toBe(0);
    for (const spec of Object.values(TOPICS)) {
      expect(after.stdout).toMatch(new RegExp(`^${prefix}${spec.name.replace(/\./g, '\\.')} +${spec.partitions} +${spec.partitions} +${spec.key}\\b`, 'm'));
      expect(after.stdout).toMatch(new RegExp(`^${prefix}${spec.name.replace(/\./g, '\\.')}\\.dlq +1 +1\\b`, 'm'));
    }
    expect(after.stdout).toContain(`${TOPIC_COUNT} of ${TOPIC_COUNT} topics exist.`);

    const json = JSON.parse((await runSelect(['topics', '--prefix', prefix, '--format', 'json'])).stdout) as { name: string; partitions: number }[];
    expect(json.find((t) => t.name === `${prefix}select.samples.v1`)?.partitions).toBe(6);
  });

  it('topics: an unreachable broker names it and how to start Kafka, exit 3', async () => {
    const result = await runSelect(['topics', '--brokers', '127.0.0.1:1']);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('Kafka is unreachable at 127.0.0.1:1');
    expect(result.stderr).toContain('select infra up');
  });

  it('infra status: the local infrastructure script, its output and exit code', async () => {
    const result = await runSelect(['infra', 'status']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^kafka +(running|external-up)/m);
    expect(result.stdout).toMatch(/^clickhouse +(running|external-up)/m);
  });

  it('sink + status: the sink runs in the foreground, status shows all healthy, and after Ctrl-C the sink is shown down', async () => {
    const env = { KAFKA_TOPIC_PREFIX: prefix, CLICKHOUSE_DATABASE: database, METRICS_SINK_PORT: '0', METRICS_SINK_GROUP_ID: `cli-test-${id}` };
    const sink = startSelect(['sink'], env);
    try {
      const started = await sink.waitForLog('metrics-sink started');
      const address = String(started.health);

      const up = await runSelect(['status', '--sink', address], env);
      expect(up.stderr).toBe('');
      expect(up.code).toBe(0);
      expect(up.stdout).toMatch(new RegExp(`^kafka +ok +${escapeRegExp(KAFKA_BROKER)} +broker answers; ${TOPIC_COUNT} of ${TOPIC_COUNT}`, 'm'));
      expect(up.stdout).toMatch(new RegExp(`^clickhouse +ok +${escapeRegExp(CLICKHOUSE_URL)} +ClickHouse [\\d.]+; database ${database}: \\d+ tables`, 'm'));
      expect(up.stdout).toMatch(new RegExp(`^metrics-sink +ok +${address.replace(/\./g, '\\.')} +gRPC health: SERVING`, 'm'));

      // The tables the sink created are there for ad-hoc SQL.
      const tables = await runSelect(['sql', 'SHOW TABLES', '--format', 'json'], env);
      expect((JSON.parse(tables.stdout) as { name: string }[]).map((t) => t.name)).toEqual(expect.arrayContaining(['samples', 'leaderboard']));

      sink.child.kill('SIGINT');
      expect(await sink.exited).toBe(0);

      const down = await runSelect(['status', '--sink', address, '--format', 'json'], env);
      expect(down.code).toBe(1);
      expect(JSON.parse(down.stdout)).toContainEqual(
        expect.objectContaining({ component: 'metrics-sink', healthy: false, hint: expect.stringContaining('select sink') }),
      );
    } finally {
      if (sink.child.exitCode === null && sink.child.signalCode === null) sink.child.kill('SIGKILL');
    }
  }, 90_000);
});
