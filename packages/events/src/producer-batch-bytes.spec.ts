// Batches are bounded in bytes as well as in events: many large events of one key (one partition) must not
// make a record batch the broker refuses (message.max.bytes, 1 MiB by default).
import type { SampleCurated } from '@select/contracts';
import { afterAll, describe, expect, it } from 'vitest';
import { deleteTopicsWithPrefix, memoryLogger, randomPrefix, topicSize } from './kafka.test-util.js';
import { createEventProducer } from './producer.js';
import { EVENT_TYPES, resolveTopics } from './topics.js';

const prefix = randomPrefix();
const logger = memoryLogger();

afterAll(async () => {
  await deleteTopicsWithPrefix(prefix);
});

describe('producer batches', () => {
  it('split by size: 40 events of 60 KB with one key (2.4 MB, one partition) are all accepted', async () => {
    const producer = createEventProducer({ clientId: 'batch-bytes-test', source: 'curation', topicPrefix: prefix, logger, lingerMs: 50 });
    await producer.connect();
    try {
      const sample = (i: number): SampleCurated => ({
        sampleId: `big-${i}`,
        shiftId: 'one-shift',
        strategy: 'sd',
        provenance: { strategy: 'sd', prompt: `${i} ${'x'.repeat(60_000)}` },
      });
      // All published before the linger ends, so they queue up together as one would-be batch.
      const results = await Promise.allSettled(
        Array.from({ length: 40 }, (_, i) => producer.publish('samples', EVENT_TYPES.SampleCurated, sample(i))),
      );
      expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
      expect(await topicSize(resolveTopics(prefix).samples.name)).toBe(40);
    } finally {
      await producer.disconnect();
    }
  });
});
