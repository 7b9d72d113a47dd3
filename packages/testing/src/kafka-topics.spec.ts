import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { deleteTopicsWithPrefix, testBrokers } from './kafka-topics.js';

describe('deleteTopicsWithPrefix (real broker)', () => {
  it("deletes the prefix's topics and leaves every other topic alone", async () => {
    const prefix = `t-${randomBytes(4).toString('hex')}-`;
    const admin = new Kafka({ clientId: 'testing-test', brokers: testBrokers(), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const before = await admin.listTopics();
      await admin.createTopics({ topics: [{ topic: `${prefix}a` }, { topic: `${prefix}b`, numPartitions: 2 }] });
      expect(await admin.listTopics()).toEqual(expect.arrayContaining([`${prefix}a`, `${prefix}b`]));

      await deleteTopicsWithPrefix(prefix);
      const after = await admin.listTopics();
      expect(after.filter((t) => t.startsWith(prefix))).toEqual([]);
      expect(after).toEqual(expect.arrayContaining(before.filter((t) => !t.startsWith('t-'))));
    } finally {
      await admin.disconnect();
    }
  });

  it('refuses an empty prefix, which would delete every topic', async () => {
    await expect(deleteTopicsWithPrefix('')).rejects.toThrow(/non-empty prefix/);
  });
});
