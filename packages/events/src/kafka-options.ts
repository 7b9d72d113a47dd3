import { Kafka, logLevel as KafkaLogLevel } from 'kafkajs';
import { kafkaLogCreator, stderrLogger, type Logger } from './logger.js';

/** Connection options shared by the producer, the consumer and `ensureTopics`. */
export interface KafkaOptions {
  /**
   * Bootstrap brokers, `host:port`.
   * @default the comma-separated `KAFKA_BROKERS` environment variable, else `['127.0.0.1:9092']`
   */
  brokers?: string[];
  /** Client id the broker sees in its logs and quotas; usually the service name. */
  clientId: string;
  /**
   * Prepended to every topic name (and so to every DLQ name); tests use a random one for isolation.
   * @default ''
   */
  topicPrefix?: string;
  /**
   * Where this package and kafkajs log (kafkajs at WARN and above).
   * @default JSON lines of warnings and errors on stderr
   */
  logger?: Logger;
}

export type ResolvedKafkaOptions = Required<KafkaOptions>;

export const DEFAULT_BROKERS = ['127.0.0.1:9092'];

/** Brokers from the `KAFKA_BROKERS` environment variable (comma-separated), if set. */
export function brokersFromEnv(env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  const list = (env.KAFKA_BROKERS ?? '')
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '');
  return list.length > 0 ? list : undefined;
}

/** Fills the defaults of the connection options: code beats env beats defaults. */
export function addKafkaDefaults(opts: KafkaOptions): ResolvedKafkaOptions {
  return {
    brokers: opts.brokers && opts.brokers.length > 0 ? opts.brokers : (brokersFromEnv() ?? DEFAULT_BROKERS),
    clientId: opts.clientId,
    topicPrefix: opts.topicPrefix ?? '',
    logger: opts.logger ?? stderrLogger({ clientId: opts.clientId }),
  };
}

/**
 * The kafkajs client; kafkajs logs at WARN through the logger. `failedAttemptsAt: 'debug'` is for clients
 * that expect failed attempts as a matter of course (polling a new topic until it is served).
 */
export function createKafkaClient(opts: ResolvedKafkaOptions, failedAttemptsAt: 'warn' | 'debug' = 'warn'): Kafka {
  return new Kafka({
    clientId: opts.clientId,
    brokers: opts.brokers,
    logLevel: KafkaLogLevel.WARN,
    logCreator: kafkaLogCreator(opts.logger, failedAttemptsAt),
  });
}
