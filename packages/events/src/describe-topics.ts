// What the broker actually has of the registry: which topics and dead-letter topics exist and with how many
// partitions. `select topics` prints it; it never creates anything.
import { Kafka, logLevel as KafkaLogLevel } from 'kafkajs';
import { EventsError } from './errors.js';
import { addKafkaDefaults, type KafkaOptions } from './kafka-options.js';
import { kafkaLogCreator } from './logger.js';
import { DLQ_PARTITIONS, dlqTopicName, resolveTopics, type TopicKey } from './topics.js';

/** One topic of the registry (or its dead-letter topic) as the broker reports it. */
export interface TopicState {
  /** Registry key (`samples`); a dead-letter topic has its topic's key. */
  topic: TopicKey;
  /** Name on the broker, prefix included. */
  name: string;
  kind: 'events' | 'dead-letter';
  /** Partitions the registry creates it with. */
  expectedPartitions: number;
  /** Partitions on the broker; null when the topic does not exist there yet. */
  partitions: number | null;
  /** Payload field whose value is the record key (a dead-letter record keeps its original key). */
  keyField: string;
  /** Message types the topic carries. */
  messageTypes: string[];
}

/**
 * Lists every topic of the registry (under `opts.topicPrefix`) and its dead-letter topic, in registry order, with
 * the partition count the broker has. Throws EventsError BROKER_UNAVAILABLE when no broker answers within a few
 * seconds, so a command line tool fails fast instead of retrying for half a minute.
 */
export async function describeTopics(opts: KafkaOptions): Promise<TopicState[]> {
  const resolved = addKafkaDefaults(opts);
  const kafka = new Kafka({
    clientId: resolved.clientId,
    brokers: resolved.brokers,
    connectionTimeout: 2_000,
    retry: { retries: 1, initialRetryTime: 200, maxRetryTime: 1_000 },
    logLevel: KafkaLogLevel.WARN,
    // Failed connection attempts end in the error below; logging each would only repeat it.
    logCreator: kafkaLogCreator(resolved.logger, 'debug'),
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
  } catch (cause) {
    throw new EventsError('BROKER_UNAVAILABLE', `no Kafka broker answered at ${resolved.brokers.join(',')}`, { cause });
  }
  try {
    const existing = new Set(await admin.listTopics());
    const wanted = Object.entries(resolveTopics(resolved.topicPrefix)).flatMap(([key, spec]) => [
      { topic: key as TopicKey, name: spec.name, kind: 'events' as const, expectedPartitions: spec.partitions, keyField: spec.key, messageTypes: spec.messageTypes },
      {
        topic: key as TopicKey,
        name: dlqTopicName(spec.name),
        kind: 'dead-letter' as const,
        expectedPartitions: DLQ_PARTITIONS,
        keyField: spec.key,
        messageTypes: spec.messageTypes,
      },
    ]);
    const present = wanted.filter((t) => existing.has(t.name)).map((t) => t.name);
    const metadata = present.length > 0 ? (await admin.fetchTopicMetadata({ topics: present })).topics : [];
    const partitionCounts = new Map(metadata.map((t) => [t.name, t.partitions.length]));
    return wanted.map((t) => ({ ...t, partitions: partitionCounts.get(t.name) ?? null }));
  } catch (cause) {
    if (cause instanceof EventsError) throw cause;
    throw new EventsError('BROKER_UNAVAILABLE', `could not read topic metadata from ${resolved.brokers.join(',')}`, { cause });
  } finally {
    await admin.disconnect();
  }
}
