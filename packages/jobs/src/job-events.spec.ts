import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createClickHouse, sql } from '@select/metrics';
import { createLogger } from '@select/platform';
import { deleteTopicsWithPrefix, holdClickHouseUp, spawnWithJsonLogs, testBrokers, type JsonLogProcess } from '@select/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countingJob, type CountRequest } from './counting-job.test-util.js';
import { JobRuntime } from './job-runtime.js';

const BROKERS = testBrokers();
const SINK_DIR = fileURLToPath(new URL('../../metrics-sink', import.meta.url));
const silent = createLogger({ service: 'jobs-events-test', level: 'silent' });

describe('job events', () => {
  const id = randomBytes(4).toString('hex');
  const prefix = `t-jobs-${id}-`;
  const database = `select_test_jobs_${id}`;
  const ch = createClickHouse({ database });
  const dir = mkdtempSync(join(tmpdir(), 'jobs-events-'));
  let sink: JsonLogProcess;
  let release: () => void;

  beforeAll(async () => {
    release = await holdClickHouseUp();
    // The metrics sink exactly as deployed, on this test's topics and database.
    sink = spawnWithJsonLogs(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: SINK_DIR,
      env: {
        ...process.env,
        KAFKA_BROKERS: BROKERS.join(','),
        KAFKA_TOPIC_PREFIX: prefix,
        CLICKHOUSE_DATABASE: database,
        // A group of its own: a sink of another prefix in the default group would be handed these topics.
        METRICS_SINK_GROUP_ID: `${prefix}sink`,
        METRICS_SINK_PORT: '0',
        METRICS_SINK_RETRY_MAX_MS: '1000',
        METRICS_SINK_SESSION_TIMEOUT_MS: '6000',
        LOG_LEVEL: 'info',
      },
    });
  });

  afterAll(async () => {
    sink?.child.kill('SIGTERM');
    await sink?.exited;
    const admin = createClickHouse({ database: 'default' });
    await admin.command(sql`DROP DATABASE IF EXISTS ${sql.id(database)}`);
    await Promise.all([admin.close(), ch.close()]);
    await deleteTopicsWithPrefix(prefix, BROKERS);
    rmSync(dir, { recursive: true, force: true });
    release?.();
  });

  it('land in the sink\'s jobs table and job_status view: lifecycle, rate-limited progress, the final state', async () => {
    const runtime = await JobRuntime.open({ dir, service: 'jobs-test', logger: silent, events: { brokers: BROKERS, topicPrefix: prefix }, progressIntervalMs: 100 });
    runtime.register(countingJob);
    const ok = await runtime.start<CountRequest>('count', { to: 150, log: join(dir, 'ok.log'), every: 10, stepMs: 4 });
    const bad = await runtime.start<CountRequest>('count', { to: 20, log: join(dir, 'bad.log'), failAt: 7 });
    await runtime.wait(ok.jobId);
    await runtime.wait(bad.jobId);
    await runtime.close();

    type Row = { job_id: string; kind: string; state: string; message: string; done: string; total: string; unit: string };
    let rows: Row[] = [];
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      rows = await ch
        .query<Row>(sql`SELECT job_id, kind, state, message, done, total, unit FROM job_status WHERE job_id IN (${ok.jobId}, ${bad.jobId}) ORDER BY job_id`)
        .catch(() => []);
      if (rows.length === 2 && rows.every((r) => r.state !== 'JOB_STATE_RUNNING')) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const byId = new Map(rows.map((r) => [r.job_id, r]));
    expect(byId.get(ok.jobId)).toMatchObject({ kind: 'count', state: 'JOB_STATE_SUCCEEDED', message: 'counted 150 numbers', done: '150', total: '150', unit: 'numbers' });
    expect(byId.get(bad.jobId)).toMatchObject({ state: 'JOB_STATE_FAILED', message: 'cannot count past 7', done: '7' });

    const events = await ch.query<{ event_type: string; state: string; done: string }>(
      sql`SELECT event_type, state, done FROM jobs FINAL WHERE job_id = ${ok.jobId} ORDER BY event_time, event_time_ms, kafka_offset`,
    );
    const lifecycle = events.filter((e) => e.event_type === 'JobLifecycle').map((e) => e.state);
    expect(lifecycle).toEqual(['JOB_STATE_RUNNING', 'JOB_STATE_SUCCEEDED']);
    const progress = events.filter((e) => e.event_type === 'JobProgress').map((e) => Number(e.done));
    // About 0.6 s of counting at one report per 100 ms: several reports, far fewer than 150, the last one complete.
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.length).toBeLessThan(40);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(progress.at(-1)).toBe(150);
  }, 120_000);

  it('a job whose events cannot be sent still succeeds; the loss is logged', async () => {
    const lines: string[] = [];
    const logger = createLogger({
      service: 'jobs-events-test',
      level: 'warn',
      destination: new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString('utf8'));
          done();
        },
      }),
    });
    // Nothing listens on port 1: every publish fails.
    const runtime = await JobRuntime.open({ dir: join(dir, 'lost'), service: 'jobs-test', logger, events: { brokers: ['127.0.0.1:1'], topicPrefix: prefix } });
    runtime.register(countingJob);
    const started = Date.now();
    const { jobId } = await runtime.start<CountRequest>('count', { to: 20, log: join(dir, 'lost.log') });
    expect(await runtime.wait(jobId)).toMatchObject({ state: 'JOB_STATE_SUCCEEDED', done: '20' });
    // Events never hold a job up: it took as long as counting does.
    expect(Date.now() - started).toBeLessThan(5_000);
    await runtime.close();
    // The failed publish is logged once kafkajs gives up on the broker.
    for (let i = 0; i < 300 && !/job event not published/.test(lines.join('')); i++) await new Promise((r) => setTimeout(r, 100));
    expect(lines.join('')).toMatch(/job event not published/);
  }, 60_000);
});
