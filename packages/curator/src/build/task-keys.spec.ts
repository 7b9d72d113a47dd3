// The coordinator's task keys put task i on partition i % 12 of the tasks topic: checked against Kafka's
// own murmur2 test vectors and against the real broker, through the producer the coordinator uses.
import { randomBytes } from 'node:crypto';
import { EVENT_TYPES, createEventProducer, readTopicOffsets, resolveTopics } from '@select/events';
import { deleteTopicsWithPrefix, testBrokers } from '@select/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { balancedTaskKeys, murmur2, partitionOf } from './task-keys.js';

const BROKERS = testBrokers();
const prefix = `t-cur-keys-${randomBytes(4).toString('hex')}-`;
afterAll(async () => {
  await deleteTopicsWithPrefix(prefix, BROKERS);
});

describe('balanced task keys', () => {
  it("hash keys as Kafka's default partitioner does (Kafka's UtilsTest vectors)", () => {
    expect(murmur2('21')).toBe(-973932308);
    expect(murmur2('foobar')).toBe(-790332482);
    expect(murmur2('a-little-bit-long-string')).toBe(-985981536);
    expect(murmur2('a-little-bit-longer-string')).toBe(-1486304829);
    expect(murmur2('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8')).toBe(-58897971);
    expect(murmur2('abc')).toBe(479470107);
  });

  it('give task i a key on partition i % partitions, starting with the task id', () => {
    const ids = Array.from({ length: 50 }, (_, i) => `shift-0123456789ab-t${String(i).padStart(5, '0')}`);
    for (const partitions of [12, 7, 1]) {
      const keys = balancedTaskKeys(ids, partitions);
      keys.forEach((key, i) => {
        expect(partitionOf(key, partitions)).toBe(i % partitions);
        expect(key === ids[i] || key.startsWith(`${ids[i]}~`)).toBe(true);
      });
    }
  });

  it('spread 30 tasks over the 12 partitions of the real tasks topic: 3 on each of the first 6, 2 on the others', async () => {
    const producer = createEventProducer({ clientId: 'task-keys-test', source: 'test', brokers: BROKERS, topicPrefix: prefix });
    await producer.connect();
    try {
      const ids = Array.from({ length: 30 }, (_, i) => `keys-test-${randomBytes(3).toString('hex')}-t${String(i).padStart(5, '0')}`);
      const keys = balancedTaskKeys(ids);
      await Promise.all(
        ids.map((taskId, i) =>
          producer.publish('curationTasks', EVENT_TYPES.CurationTask, { shiftId: 'keys-test', taskId, taskIndex: i, taskCount: ids.length, specUri: '/nowhere', records: 1 }, { key: keys[i]! }),
        ),
      );
    } finally {
      await producer.disconnect();
    }
    const topic = resolveTopics(prefix).curationTasks.name;
    const offsets = (await readTopicOffsets({ clientId: 'task-keys-test', brokers: BROKERS }, [topic])).get(topic)!;
    const perPartition = offsets.sort((a, b) => a.partition - b.partition).map((p) => p.high - p.low);
    expect(perPartition).toEqual([3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2]);
  });
});
