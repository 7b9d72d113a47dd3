// Integration tests create topics under a random prefix; this removes them again so the shared broker does not
// collect thousands of partitions (each one slows its start-up).
import { Kafka, logLevel } from 'kafkajs';

/** `KAFKA_BROKERS` (comma-separated), else the local broker. */
export function testBrokers(): string[] {
  return (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',').map((b) => b.trim()).filter(Boolean);
}

/** Deletes every topic whose name starts with `prefix` (an empty prefix is refused: it would mean every topic). */
export async function deleteTopicsWithPrefix(prefix: string, brokers: string[] = testBrokers()): Promise<void> {
  if (prefix === '') throw new Error('deleteTopicsWithPrefix needs a non-empty prefix');
  const admin = new Kafka({ clientId: 'select-test-cleanup', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics });
  } finally {
    await admin.disconnect();
  }
}
