// Imported for its side effect, before anything loads kafkajs: gives kafkajs 2.2.4 a linear-time
// `groupMessagesPerPartition`. kafkajs' own copies the partition's array for every message it adds
// (`[...current, message]`): a batch of 5,000 events on 6 partitions copied ~2 million array slots and left
// ~17 MB of garbage, ~13 % of the producer's time (tools/bench/events). kafkajs requires that module once,
// when it loads, so the replacement has to be in Node's module cache first; index.ts and producer.ts
// import this module before kafkajs. When kafkajs was loaded earlier (another package imported it first),
// nothing changes and kafkajs' own version runs: the same result, only slower.
import { createRequire, Module } from 'node:module';

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

const require = createRequire(import.meta.url);

function preload(): boolean {
  try {
    const grouping = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');
    const sendMessages = require.resolve('kafkajs/src/producer/sendMessages.js');
    // kafkajs has taken its own already (or something else is in the cache): leave it.
    if (require.cache[sendMessages] !== undefined || require.cache[grouping] !== undefined) return false;
    const module = new Module(grouping);
    module.filename = grouping;
    module.loaded = true;
    module.exports = groupMessagesPerPartition;
    require.cache[grouping] = module;
    return true;
  } catch {
    return false;
  }
}

/** Whether kafkajs in this process groups with groupMessagesPerPartition above. */
export const linearGroupingInstalled: boolean = preload();
