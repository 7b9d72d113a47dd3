// What the sink's integration tests share: an isolated topic prefix and database, event fixtures, the sink run
// as a child process exactly as deployed (`node --import tsx src/main.ts`), and read-backs from ClickHouse and
// the dead-letter topics.
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type {
  EvaluationResult,
  JobLifecycle,
  JobProgress,
  SampleCurated,
  ShiftLifecycle,
  TrainingMetric,
} from '@select/contracts';
import { createEventProducer, dlqTopicName, EVENT_TYPES, readTopicOffsets, resolveTopics, type EventProducer } from '@select/events';
import { createClickHouse, sql, type ClickHouse } from '@select/metrics';
import { deleteTopicsWithPrefix, spawnWithJsonLogs, testBrokers, type JsonLogProcess } from '@select/testing';

const BROKERS = testBrokers();
const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

export interface TestWorld {
  prefix: string;
  database: string;
  ch: ClickHouse;
  producer: EventProducer;
  /** Drops the database and the topics, closes connections. */
  cleanup(): Promise<void>;
}

export async function createTestWorld(): Promise<TestWorld> {
  const id = randomBytes(4).toString('hex');
  const prefix = `t-sink-${id}-`;
  const database = `select_test_sink_${id}`;
  const ch = createClickHouse({ database });
  const producer = createEventProducer({ brokers: BROKERS, clientId: 'metrics-sink-test', source: 'metrics-sink-test', topicPrefix: prefix });
  await producer.connect();
  return {
    prefix,
    database,
    ch,
    producer,
    async cleanup() {
      await producer.disconnect();
      const admin = createClickHouse({ database: 'default' });
      await admin.command(sql`DROP DATABASE IF EXISTS ${sql.id(database)}`);
      await Promise.all([admin.close(), ch.close()]);
      await deleteTopicsWithPrefix(prefix);
    },
  };
}

const KAFKA = { brokers: BROKERS, clientId: 'metrics-sink-test' };

/** Messages in all dead-letter topics of the prefix (0 when the DLQs do not exist). */
export async function deadLetterCount(prefix: string): Promise<number> {
  const dlqs = Object.values(resolveTopics(prefix)).map((spec) => dlqTopicName(spec.name));
  let total = 0;
  for (const partitions of (await readTopicOffsets(KAFKA, dlqs)).values()) for (const p of partitions) total += p.high - p.low;
  return total;
}

/** True once the group has committed every partition of the prefix's topics up to the end. */
export async function groupCaughtUp(prefix: string, groupId: string): Promise<boolean> {
  const topics = Object.values(resolveTopics(prefix)).map((spec) => spec.name);
  for (const partitions of (await readTopicOffsets(KAFKA, topics, groupId)).values()) {
    if (partitions.some((p) => p.high > 0 && p.committed !== p.high)) return false;
  }
  return true;
}

export const SHIFTS = ['in1000', 'la1000-img2img', 'la1000-txt2img', 'oi1000', 'sd1000-txt2img'];

export function sample(i: number): SampleCurated {
  const shiftId = SHIFTS[i % SHIFTS.length] ?? 'in1000';
  return {
    sampleId: `${shiftId}-${i}`,
    shiftId,
    strategy: shiftId,
    classIndex: i % 10,
    wnid: `n0000000${i % 10}`,
    sourceId: `src-${i}`,
    score: i / 1000,
    shard: `${String(Math.floor(i / 100)).padStart(5, '0')}.tar`,
    key: `${i}`.padStart(9, '0'),
    provenance: {
      strategy: shiftId,
      paramsHash: 'h'.repeat(64),
      sourceId: `src-${i}`,
      score: i % 7 === 0 ? Number.NaN : i / 1000,
      modelIds: ['clip-vit-b32@0a1b2c'],
      prompt: i % 2 ? `A photo of class ${i % 10}` : '',
      seed: i % 2 ? String(9_007_199_254_740_993n + BigInt(i)) : '0',
      extra: { note: `it's sample "${i}"` },
    },
    width: 512,
    height: 512,
  };
}

/** Publishes samples [from, from + count) and waits until the broker acknowledged them. */
export async function publishSamples(producer: EventProducer, from: number, count: number): Promise<void> {
  const sent: Promise<unknown>[] = [];
  for (let i = from; i < from + count; i++) sent.push(producer.publish('samples', EVENT_TYPES.SampleCurated, sample(i)));
  await Promise.all(sent);
}

export interface OtherEvents {
  shifts: number;
  jobs: number;
  training: number;
  evaluations: number;
}

/** A few events of every other type: lifecycles, job progress, a training curve, evaluation scores. */
export async function publishOtherEvents(producer: EventProducer): Promise<OtherEvents> {
  const sent: Promise<unknown>[] = [];
  const shiftPhases = ['SHIFT_PHASE_CREATED', 'SHIFT_PHASE_COMPLETED'] as const;
  for (const [i, shiftId] of SHIFTS.entries()) {
    for (const phase of shiftPhases) {
      const event: ShiftLifecycle = {
        shiftId,
        name: shiftId.toUpperCase(),
        strategy: shiftId,
        phase,
        paramsJson: JSON.stringify({ threshold: 0.5 }),
        paramsHash: 'p'.repeat(64),
        sampleCount: phase === 'SHIFT_PHASE_COMPLETED' ? String(1000 + i) : '0',
        classCount: 10,
        shardCount: 3,
        uri: `/data/shifts/${shiftId}`,
        message: '',
      };
      sent.push(producer.publish('shifts', EVENT_TYPES.ShiftLifecycle, event));
    }
  }
  const lifecycle: JobLifecycle[] = [
    { jobId: 'job-1', kind: 'train', state: 'JOB_STATE_RUNNING', message: 'started', paramsJson: '{}' },
    { jobId: 'job-1', kind: 'train', state: 'JOB_STATE_SUCCEEDED', message: 'done', paramsJson: '{}' },
  ];
  for (const event of lifecycle) sent.push(producer.publish('jobs', EVENT_TYPES.JobLifecycle, event));
  const progress: JobProgress[] = [1, 2, 3].map((n) => ({
    jobId: 'job-1',
    kind: 'train',
    done: String(n * 100),
    total: '300',
    unit: 'steps',
    ratePerS: 12.5,
    message: '',
  }));
  for (const event of progress) sent.push(producer.publish('jobs', EVENT_TYPES.JobProgress, event));
  let training = 0;
  for (const shiftId of ['in1000', 'oi1000']) {
    for (let step = 0; step < 10; step++) {
      const event: TrainingMetric = {
        runId: `run-${shiftId}`,
        shiftId,
        epoch: Math.floor(step / 5),
        step: String(step * 100),
        split: 'train',
        name: 'loss',
        value: 7 - step * 0.5,
      };
      sent.push(producer.publish('training', EVENT_TYPES.TrainingMetric, event));
      training++;
    }
  }
  const scores: Record<string, number> = { in1000: 78.0, 'la1000-img2img': 59.6, oi1000: 42.3 };
  for (const [shiftId, value] of Object.entries(scores)) {
    const event: EvaluationResult = {
      evalId: `eval-${shiftId}`,
      runId: `run-${shiftId}`,
      shiftId,
      modelId: `resnet50-${shiftId}`,
      benchmark: 'imagenet-val',
      metric: 'top1',
      value,
      numSamples: '50000',
      paramsJson: '{}',
    };
    sent.push(producer.publish('evaluations', EVENT_TYPES.EvaluationResult, event));
  }
  await Promise.all(sent);
  return { shifts: SHIFTS.length * shiftPhases.length, jobs: lifecycle.length + progress.length, training, evaluations: 3 };
}

/** Distinct event ids and FINAL row count of one table. */
export async function tableCounts(ch: ClickHouse, table: string): Promise<{ distinct: number; final: number; raw: number }> {
  try {
    const [row] = await ch.query<{ distinct: string; raw: string }>(
      sql`SELECT uniqExact(event_id) AS distinct, count() AS raw FROM ${sql.id(table)}`,
    );
    const [final] = await ch.query<{ n: string }>(sql`SELECT count() AS n FROM ${sql.id(table)} FINAL`);
    return { distinct: Number(row?.distinct ?? 0), final: Number(final?.n ?? 0), raw: Number(row?.raw ?? 0) };
  } catch {
    return { distinct: 0, final: 0, raw: 0 }; // database or table not there yet
  }
}

export type SinkProcess = JsonLogProcess;

/** Runs the sink as a child process with the test's prefix and database. */
export function startSinkProcess(world: TestWorld, env: Record<string, string> = {}): SinkProcess {
  return spawnWithJsonLogs(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: PACKAGE_DIR,
    env: {
      ...process.env,
      KAFKA_BROKERS: BROKERS.join(','),
      KAFKA_TOPIC_PREFIX: world.prefix,
      CLICKHOUSE_DATABASE: world.database,
      METRICS_SINK_PORT: '0',
      METRICS_SINK_RETRY_MAX_MS: '1000',
      // The broker's minimum: a killed sink's partitions move to its successor 6 s later instead of 30 s.
      METRICS_SINK_SESSION_TIMEOUT_MS: '6000',
      LOG_LEVEL: 'info',
      ...env,
    },
  });
}

/** Polls until `check` returns true; throws after the timeout with `describe()` in the message. */
export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, describe: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${await describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
