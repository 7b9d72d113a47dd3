import { TOPICS } from '@select/events';

/**
 * Kafka's default partitioner hash (murmur2 of the key's UTF-8 bytes, as the Java client and kafkajs'
 * DefaultPartitioner compute it): a keyed record goes to partition `(murmur2(key) & 0x7fffffff) % partitions`.
 */
export function murmur2(key: string): number {
  const data = Buffer.from(key, 'utf8');
  const length = data.length;
  const m = 0x5bd1e995;
  let h = (0x9747b28c ^ length) | 0;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = data[i4]! | (data[i4 + 1]! << 8) | (data[i4 + 2]! << 16) | (data[i4 + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  // The last 1-3 bytes (the Java client's fall-through switch, unrolled).
  const tail = length & ~3;
  const left = length & 3;
  if (left === 3) h ^= data[tail + 2]! << 16;
  if (left >= 2) h ^= data[tail + 1]! << 8;
  if (left >= 1) {
    h ^= data[tail]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition Kafka's default partitioner gives a key. */
export function partitionOf(key: string, partitions: number): number {
  return (murmur2(key) & 0x7fffffff) % partitions;
}

/**
 * Record keys for a build's tasks that put task i on partition `i % partitions` of the tasks topic, so a
 * build's tasks are spread evenly and the workers' consumer group (kafkajs' round-robin assignor gives
 * member j the partitions j, j + n, ...) hands every worker the same number of tasks, give or take one.
 * Hashing the task ids instead left a 20-task build with e.g. 13 tasks on one of two workers and 7 on the
 * other, so the second worker idled for a third of the build. The key is the task id, or the task id and
 * the smallest `~n` suffix that hashes to the wanted partition (about `partitions` tries per task).
 */
export function balancedTaskKeys(taskIds: readonly string[], partitions: number = TOPICS.curationTasks.partitions): string[] {
  return taskIds.map((taskId, i) => {
    const wanted = i % partitions;
    if (partitionOf(taskId, partitions) === wanted) return taskId;
    for (let n = 0; ; n++) {
      const key = `${taskId}~${n}`;
      if (partitionOf(key, partitions) === wanted) return key;
    }
  });
}
