// Integration tests create topics under a random prefix; this removes them again so the shared broker does not
// collect thousands of partitions (each one slows its start-up). Through @select/events, the one package that
// talks to Kafka.
import { deleteTopicsWithPrefix as deleteTopics, type Logger } from '@select/events';

/** `KAFKA_BROKERS` (comma-separated), else the local broker. */
export function testBrokers(): string[] {
  return (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',').map((b) => b.trim()).filter(Boolean);
}

const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => quiet };

/** Deletes every topic whose name starts with `prefix` (an empty prefix is refused: it would mean every topic). */
export async function deleteTopicsWithPrefix(prefix: string, brokers: string[] = testBrokers()): Promise<void> {
  await deleteTopics({ clientId: 'select-test-cleanup', brokers, logger: quiet }, prefix);
}
