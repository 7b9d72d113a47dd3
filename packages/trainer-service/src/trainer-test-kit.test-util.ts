// What the trainer's integration tests share: a trainer on port 0 over a temporary runs directory, its gRPC client,
// and (for metric tests) a metrics sink child process writing into a database of its own.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as grpc from '@grpc/grpc-js';
import { packageDefinition, type trainerV1 } from '@select/contracts';
import { createClickHouse, sql, type ClickHouse } from '@select/metrics';
import { createGrpcClient, createLogger, unary } from '@select/platform';
import { deleteTopicsWithPrefix, spawnWithJsonLogs, type JsonLogProcess } from '@select/testing';
import { trainerConfigSchema, type TrainerConfig } from './config.js';
import { SERVICE_NAME, startTrainerServer, type TrainerServer } from './server.js';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const PYTHON = join(REPO, '.work/py/bin/python');

export type TrainerClient = grpc.Client & Record<string, (...args: never[]) => unknown>;

export async function tempDir(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A trainer on port 0; config defaults as the service's, overridden by `overrides`. */
export async function startTestTrainer(overrides: Partial<TrainerConfig> & { runsDir: string }): Promise<{ trainer: TrainerServer; client: TrainerClient; close(): Promise<void> }> {
  const config: TrainerConfig = {
    ...defaults(),
    host: '127.0.0.1',
    port: 0,
    python: PYTHON,
    torchThreads: 1,
    minFreeBytes: 0,
    publishEvents: false,
    ...overrides,
  };
  const trainer = await startTrainerServer(config, { logger: createLogger({ service: 'trainer-test', level: 'fatal' }) });
  const client = createGrpcClient(packageDefinition('trainer'), SERVICE_NAME, trainer.address, { defaultDeadlineMs: 0 }) as TrainerClient;
  return {
    trainer,
    client,
    async close() {
      client.close();
      await trainer.close();
    },
  };
}

function defaults(): TrainerConfig {
  const values: Record<string, unknown> = {};
  for (const [key, option] of Object.entries(trainerConfigSchema)) if ('default' in option) values[key] = option.default;
  return values as TrainerConfig;
}

export function call<T>(client: TrainerClient, method: string, request: object, deadlineMs = 60_000): Promise<T> {
  return unary<T>(client, method, request, { deadlineMs });
}

/** WatchRun as a list of updates, until the stream ends or `until` says stop (then the call is cancelled). */
export async function watchRun(
  client: TrainerClient,
  runId: string,
  until: (u: trainerV1.RunUpdate__Output, all: trainerV1.RunUpdate__Output[]) => boolean = () => false,
  deadlineMs = 120_000,
): Promise<trainerV1.RunUpdate__Output[]> {
  const stream = (client['watchRun'] as unknown as (r: object, o: grpc.CallOptions) => grpc.ClientReadableStream<trainerV1.RunUpdate__Output>).call(
    client,
    { runId },
    { deadline: Date.now() + deadlineMs },
  );
  const all: trainerV1.RunUpdate__Output[] = [];
  return new Promise((resolve, reject) => {
    stream.on('data', (u: trainerV1.RunUpdate__Output) => {
      all.push(u);
      if (until(u, all)) {
        stream.cancel();
        resolve(all);
      }
    });
    stream.on('error', (err: grpc.ServiceError) => (err.code === 1 ? resolve(all) : reject(err)));
    stream.on('end', () => resolve(all));
  });
}

/** Polls GetRun until the run is in a terminal state. */
export async function waitForRun(client: TrainerClient, runId: string, timeoutMs = 150_000): Promise<trainerV1.TrainingRun__Output> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await call<trainerV1.TrainingRun__Output>(client, 'GetRun', { runId });
    if (['JOB_STATE_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED'].includes(run.state)) return run;
    if (Date.now() > deadline) throw new Error(`run ${runId} still ${run.state} after ${timeoutMs} ms: ${run.message}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A metrics sink child process on its own topics (prefix) and database. */
export async function startSink(): Promise<{ prefix: string; database: string; ch: ClickHouse; sink: JsonLogProcess; close(): Promise<void> }> {
  const id = randomBytes(4).toString('hex');
  const prefix = `trainer-test-${id}.`;
  const database = `select_test_trainer_${id}`;
  const admin = createClickHouse({ database: 'default' });
  await admin.command(sql`CREATE DATABASE ${sql.id(database)}`);
  const sink = spawnWithJsonLogs(process.execPath, [join(REPO, 'packages/metrics-sink/dist/main.js')], {
    env: { ...process.env, KAFKA_TOPIC_PREFIX: prefix, CLICKHOUSE_DATABASE: database, METRICS_SINK_PORT: '0', METRICS_SINK_GROUP_ID: `trainer-test-${id}` },
  });
  await sink.waitForLog('metrics-sink started');
  const ch = createClickHouse({ database });
  return {
    prefix,
    database,
    ch,
    sink,
    async close() {
      sink.child.kill('SIGTERM');
      await sink.exited;
      await ch.close();
      await admin.command(sql`DROP DATABASE IF EXISTS ${sql.id(database)}`);
      await admin.close();
      await deleteTopicsWithPrefix(prefix).catch(() => undefined);
    },
  };
}
