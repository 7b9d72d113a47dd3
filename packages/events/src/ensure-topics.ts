import type { Admin, ITopicConfig } from 'kafkajs';
import { EventsError } from './errors.js';
import { addKafkaDefaults, createKafkaClient, type KafkaOptions, type ResolvedKafkaOptions } from './kafka-options.js';
import { DLQ_PARTITIONS, dlqTopicName, resolveTopics, type TopicSpec } from './topics.js';

/** How long to wait for new topics to get partition leaders before giving up. */
const LEADER_TIMEOUT_MS = 30_000;

/**
 * Creates the topics and their dead-letter topics with explicit partition counts (the broker has automatic
 * topic creation off). Idempotent: existing topics are left as they are, and a topic created concurrently by
 * another process counts as created. Resolves once every partition of every topic has a leader.
 * @param topics specs with their final (already prefixed) names; @default every topic of `resolveTopics(opts.topicPrefix)`
 */
export async function ensureTopics(opts: KafkaOptions, topics?: TopicSpec[]): Promise<void> {
  const resolved = addKafkaDefaults(opts);
  // Its own client: probing new partitions fails a few times by design, which is not worth a warning.
  const admin = createKafkaClient(resolved, 'debug').admin();
  await admin.connect();
  try {
    await ensureTopicsOn(admin, resolved, topics ?? Object.values(resolveTopics(resolved.topicPrefix)));
  } finally {
    await admin.disconnect();
  }
}

/** Topic configs of the specs and their DLQs. */
export function topicConfigs(topics: TopicSpec[]): ITopicConfig[] {
  return topics.flatMap((spec) => [
    { topic: spec.name, numPartitions: spec.partitions },
    { topic: dlqTopicName(spec.name), numPartitions: DLQ_PARTITIONS },
  ]);
}

async function ensureTopicsOn(admin: Admin, opts: ResolvedKafkaOptions, topics: TopicSpec[]): Promise<void> {
  const wanted = topicConfigs(topics);
  const existing = new Set(await admin.listTopics());
  const missing = wanted.filter((t) => !existing.has(t.topic));
  if (missing.length > 0) {
    try {
      // Resolves false when every topic already existed (another process won the race). Leaders are awaited
      // below, by a poll that tolerates the errors a just-created topic or a just-started broker gives.
      await admin.createTopics({ topics: missing, waitForLeaders: false });
    } catch (cause) {
      throw new EventsError('TOPIC_SETUP_FAILED', `could not create topics ${missing.map((t) => t.topic).join(', ')}`, { cause });
    }
    opts.logger.info({ topics: missing.map((t) => `${t.topic}(${t.numPartitions})`) }, 'created topics');
  }
  await waitUntilServed(admin, opts, wanted, new Set(missing.map((t) => t.topic)));
}

/**
 * Polls until every partition has a leader and every new partition is served by it, and warns about
 * partition counts that differ from the registry. Metadata names a leader a moment before that broker
 * serves a new partition (the first produce would get NOT_LEADER_FOR_PARTITION); listing offsets is
 * answered by the leader itself, so once that works producers and consumers start cleanly.
 */
async function waitUntilServed(admin: Admin, opts: ResolvedKafkaOptions, wanted: ITopicConfig[], created: Set<string>): Promise<void> {
  const deadline = Date.now() + LEADER_TIMEOUT_MS;
  for (let delay = 25; ; delay = Math.min(delay * 2, 1000)) {
    let lastProblem: unknown;
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: wanted.map((t) => t.topic) });
      const leaderless = topics.filter((t) => t.partitions.length === 0 || t.partitions.some((p) => p.leader < 0));
      if (leaderless.length === 0) {
        for (const topic of [...created]) {
          await admin.fetchTopicOffsets(topic);
          created.delete(topic);
        }
        for (const t of topics) {
          const want = wanted.find((w) => w.topic === t.name)?.numPartitions;
          if (want !== undefined && t.partitions.length !== want) {
            // Changing the count would move keys to other partitions and break per-key order; an operator decides.
            opts.logger.warn({ topic: t.name, partitions: t.partitions.length, expected: want }, 'topic has a different partition count than the registry');
          }
        }
        return;
      }
      lastProblem = `no leader yet for ${leaderless.map((t) => t.name).join(', ')}`;
    } catch (error) {
      lastProblem = error;
    }
    if (Date.now() + delay > deadline) {
      throw new EventsError('TOPIC_SETUP_FAILED', `topics did not get partition leaders within ${LEADER_TIMEOUT_MS} ms`, { cause: lastProblem });
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}
