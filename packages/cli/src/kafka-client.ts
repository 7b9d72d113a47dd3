// Kafka options of the CLI's commands: flags beat the environment the services read (KAFKA_BROKERS,
// KAFKA_TOPIC_PREFIX) beats the local defaults, as everywhere in the system.
import { addKafkaDefaults, type Logger, type ResolvedKafkaOptions } from '@select/events';

/** Drops everything: the commands report failures themselves, and kafkajs' retries would only add noise. */
const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};

export interface CliKafkaOptions {
  /** @default KAFKA_BROKERS, else ['127.0.0.1:9092'] */
  brokers?: string[];
  /** @default KAFKA_TOPIC_PREFIX, else '' */
  topicPrefix?: string;
}

export function addKafkaClientDefaults(options: CliKafkaOptions): ResolvedKafkaOptions {
  return addKafkaDefaults({
    clientId: 'select-cli',
    ...(options.brokers ? { brokers: options.brokers } : {}),
    topicPrefix: options.topicPrefix ?? process.env.KAFKA_TOPIC_PREFIX ?? '',
    logger: silentLogger,
  });
}
