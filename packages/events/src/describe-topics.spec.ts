import { afterAll, describe, expect, it } from 'vitest';
import { describeTopics } from './describe-topics.js';
import { ensureTopics } from './ensure-topics.js';
import { EventsError } from './errors.js';
import { deleteTopicsWithPrefix, memoryLogger, randomPrefix } from './kafka.test-util.js';
import { TOPICS } from './topics.js';

const prefix = randomPrefix();
const logger = memoryLogger();

afterAll(async () => {
  await deleteTopicsWithPrefix(prefix);
});

describe('describeTopics (real broker)', () => {
  it('shows every registry topic and DLQ as missing, then with the partitions ensureTopics created', async () => {
    const before = await describeTopics({ clientId: 'describe-test', topicPrefix: prefix, logger });
    expect(before).toHaveLength(Object.keys(TOPICS).length * 2);
    expect(before.every((t) => t.partitions === null)).toBe(true);

    await ensureTopics({ clientId: 'describe-test', topicPrefix: prefix, logger });
    const after = await describeTopics({ clientId: 'describe-test', topicPrefix: prefix, logger });
    expect(after.map((t) => [t.name, t.partitions])).toEqual(
      Object.values(TOPICS).flatMap((spec) => [
        [`${prefix}${spec.name}`, spec.partitions],
        [`${prefix}${spec.name}.dlq`, 1],
      ]),
    );
    expect(after.find((t) => t.name === `${prefix}select.jobs.v1`)).toMatchObject({
      topic: 'jobs',
      kind: 'events',
      keyField: 'job_id',
      messageTypes: ['select.events.v1.JobLifecycle', 'select.events.v1.JobProgress'],
    });
  });

  it('fails fast with BROKER_UNAVAILABLE when nothing listens at the brokers', async () => {
    const started = Date.now();
    const failure = await describeTopics({ clientId: 'describe-test', brokers: ['127.0.0.1:1'], logger }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(EventsError);
    expect((failure as EventsError).code).toBe('BROKER_UNAVAILABLE');
    expect((failure as EventsError).message).toContain('127.0.0.1:1');
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
