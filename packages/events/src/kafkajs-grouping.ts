// Imported for its side effect, before anything loads kafkajs: gives kafkajs 2.2.4 a linear-time
// `groupMessagesPerPartition`. kafkajs' own copies the partition's array for every message it adds
// (`[...current, message]`): a batch of 5,000 events on 6 partitions copied ~2 million array slots and left
// ~17 MB of garbage, ~13 % of the producer's time (tools/bench/events). kafkajs requires that module once,
// when it loads, so the replacement has to be in Node's module cache first; index.ts and producer.ts
// import this module before kafkajs. When kafkajs was loaded earlier (another package imported it first),
// nothing changes and kafkajs' own version runs: the same result, only slower.
import { preloadKafkajsModule } from './kafkajs-preload.js';

interface GroupArgs {
  topic: string;
  partitionMetadata: unknown[];
  messages: unknown[];
  partitioner: (args: { topic: string; partitionMetadata: unknown[]; message: unknown }) => number;
}

/** kafkajs' groupMessagesPerPartition, pushing instead of copying: same partitioner calls, same groups in the same order. */
export function groupMessagesPerPartition({ topic, partitionMetadata, messages, partitioner }: GroupArgs): Record<number, unknown[]> {
  if (partitionMetadata.length === 0) return {};
  const result: Record<number, unknown[]> = {};
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    const group = result[partition];
    if (group === undefined) result[partition] = [message];
    else group.push(message);
  }
  return result;
}

/** Whether kafkajs in this process groups with groupMessagesPerPartition above. */
export const linearGroupingInstalled: boolean = preloadKafkajsModule(
  'kafkajs/src/producer/groupMessagesPerPartition.js',
  ['kafkajs/src/producer/sendMessages.js'],
  groupMessagesPerPartition,
);
