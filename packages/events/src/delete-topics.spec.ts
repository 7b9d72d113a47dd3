import { afterAll, describe, expect, it } from 'vitest';
import { deleteTopicsWithPrefix } from './delete-topics.js';
import { describeTopics } from './describe-topics.js';
import { ensureTopics } from './ensure-topics.js';
import { EventsError } from './errors.js';
import { BROKERS, memoryLogger, randomPrefix } from './kafka.test-util.js';
import { TOPICS } from './topics.js';

const doomed = randomPrefix();
const kept = randomPrefix();
const opts = { clientId: 'delete-topics-test', brokers: BROKERS, logger: memoryLogger() };

afterAll(async () => {
  await deleteTopicsWithPrefix(opts, kept);
});

describe('deleteTopicsWithPrefix (real broker)', () => {
  it("deletes the prefix's topics and their dead-letter topics, and leaves another prefix's alone", async () => {
    await ensureTopics({ ...opts, topicPrefix: doomed });
    await ensureTopics({ ...opts, topicPrefix: kept });

    const deleted = await deleteTopicsWithPrefix(opts, doomed);
    expect(deleted).toHaveLength(Object.keys(TOPICS).length * 2);
    expect(deleted.every((t) => t.startsWith(doomed))).toBe(true);
    expect(deleted).toContain(`${doomed}select.jobs.v1.dlq`);

    const gone = await describeTopics({ ...opts, topicPrefix: doomed });
    expect(gone.filter((t) => t.partitions !== null)).toEqual([]);
    const still = await describeTopics({ ...opts, topicPrefix: kept });
    expect(still.every((t) => t.partitions !== null)).toBe(true);
  });

  it('refuses an empty prefix, which would delete every topic', async () => {
    const attempt = deleteTopicsWithPrefix(opts, '');
    await expect(attempt).rejects.toBeInstanceOf(EventsError);
    await expect(attempt).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
