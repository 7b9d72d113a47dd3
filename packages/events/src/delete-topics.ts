// Removes every topic under a prefix: test runs and throwaway environments create topics under a random
// prefix and delete them again, so the broker does not collect thousands of partitions (each one slows its
// start-up). Deleting is the only thing here; nothing is ever deleted by the services themselves.
import { EventsError } from './errors.js';
import { addKafkaDefaults, createKafkaClient, type KafkaOptions } from './kafka-options.js';

/**
 * Deletes every topic whose name starts with `prefix` (dead-letter topics included, whatever created them) and
 * resolves with the names deleted. An empty prefix is refused: it would mean every topic on the broker.
 * `opts.topicPrefix` is not used; the prefix is the argument.
 */
export async function deleteTopicsWithPrefix(opts: KafkaOptions, prefix: string): Promise<string[]> {
  if (prefix === '') throw new EventsError('INVALID_ARGUMENT', 'deleteTopicsWithPrefix needs a non-empty prefix; an empty one would delete every topic');
  const admin = createKafkaClient(addKafkaDefaults(opts)).admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix)).sort();
    if (topics.length > 0) await admin.deleteTopics({ topics });
    return topics;
  } finally {
    await admin.disconnect();
  }
}
