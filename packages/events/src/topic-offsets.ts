// Where the broker stands on a set of topics: each partition's low and high watermark and, for a consumer
// group, its committed offset. Tests and operators use it to count dead letters and to wait for a group to
// catch up without opening a Kafka client of their own.
import { addKafkaDefaults, createKafkaClient, type KafkaOptions } from './kafka-options.js';

/** One partition of a topic. `committed` is the group's committed offset, -1 when it has none (or no group was asked). */
export interface PartitionOffsets {
  partition: number;
  low: number;
  high: number;
  committed: number;
}

/**
 * Offsets of every partition of each named topic that exists (absent topics are left out of the map), with
 * `groupId`'s committed offsets when one is given.
 */
export async function readTopicOffsets(opts: KafkaOptions, topics: readonly string[], groupId?: string): Promise<Map<string, PartitionOffsets[]>> {
  const admin = createKafkaClient(addKafkaDefaults(opts), 'debug').admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const result = new Map<string, PartitionOffsets[]>();
    for (const topic of topics) {
      if (!existing.has(topic)) continue;
      const ends = await admin.fetchTopicOffsets(topic);
      const committed = groupId === undefined ? [] : ((await admin.fetchOffsets({ groupId, topics: [topic] }))[0]?.partitions ?? []);
      result.set(
        topic,
        ends.map((end) => ({
          partition: end.partition,
          low: Number(end.low),
          high: Number(end.high),
          committed: Number(committed.find((p) => p.partition === end.partition)?.offset ?? '-1'),
        })),
      );
    }
    return result;
  } finally {
    await admin.disconnect();
  }
}

/**
 * How many members a consumer group has now (0 for a group that is empty or that the broker does not know):
 * the curator asks it of its workers' group when a build's tasks wait and nothing happens.
 */
export async function countGroupMembers(opts: KafkaOptions, groupId: string): Promise<number> {
  const admin = createKafkaClient(addKafkaDefaults(opts), 'debug').admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([groupId]);
    return groups.find((g) => g.groupId === groupId)?.members.length ?? 0;
  } finally {
    await admin.disconnect();
  }
}
