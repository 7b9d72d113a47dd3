// `select topics`: the registry's topics as the broker has them, so a missing topic or a partition count that
// differs from the registry is visible before a consumer trips over it.
import { describeTopics, type TopicState } from '@select/events';
import { toCliError } from './errors.js';
import { addKafkaClientDefaults, type CliKafkaOptions } from './kafka-client.js';
import type { OutputFormat } from './sql-command.js';
import { formatTable } from './table-format.js';

export async function runTopicsCommand(options: CliKafkaOptions & { format?: OutputFormat } = {}): Promise<string> {
  const kafka = addKafkaClientDefaults(options);
  let topics: TopicState[];
  try {
    topics = await describeTopics(kafka);
  } catch (err) {
    throw toCliError(err, { brokers: kafka.brokers });
  }
  if (options.format === 'json') return `${JSON.stringify(topics, null, 2)}\n`;
  const rows = topics.map((t) => [
    t.name,
    t.partitions ?? 'missing',
    t.expectedPartitions,
    t.kind === 'events' ? t.keyField : `${t.keyField} (original)`,
    t.kind === 'events' ? t.messageTypes.map((m) => m.replace(/^select\.events\.v1\./, '')).join(', ') : 'dead letters',
  ]);
  const columns = [
    { name: 'topic' },
    { name: 'partitions', type: 'UInt32' },
    { name: 'expected', type: 'UInt32' },
    { name: 'key' },
    { name: 'carries' },
  ];
  const present = topics.filter((t) => t.partitions !== null).length;
  let text = `brokers ${kafka.brokers.join(',')}${kafka.topicPrefix ? `, topic prefix ${kafka.topicPrefix}` : ''}\n\n`;
  text += formatTable(columns, rows, { footer: false });
  text += `\n${present} of ${topics.length} topics exist.`;
  if (present < topics.length) text += ' Missing topics are created by the metrics sink (`select sink`) or any producer at start.';
  return `${text}\n`;
}
