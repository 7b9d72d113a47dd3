// The sink's configuration: code beats environment beats defaults (resolved by @select/platform). ClickHouse
// connection options are read by @select/metrics from CLICKHOUSE_*; see the README for the full table.
import { defineConfigSchema, grpcServerConfigSchema, resolveConfig, type ConfigOf, type ConfigOverrides } from '@select/platform';

export const metricsSinkConfigSchema = defineConfigSchema({
  brokers: {
    env: 'KAFKA_BROKERS',
    type: 'list',
    default: ['127.0.0.1:9092'],
    doc: 'Comma-separated Kafka bootstrap brokers, host:port.',
  },
  topicPrefix: {
    env: 'KAFKA_TOPIC_PREFIX',
    type: 'string',
    default: '',
    doc: 'Prefix of every topic name (isolated test or side-by-side deployments).',
  },
  groupId: {
    env: 'METRICS_SINK_GROUP_ID',
    type: 'string',
    default: 'select-metrics-sink',
    doc: 'Kafka consumer group; every group materialises every event once.',
  },
  maxBatch: {
    env: 'METRICS_SINK_MAX_BATCH',
    type: 'int',
    min: 1,
    max: 100_000,
    default: 10_000,
    doc: 'Most events of one partition per ClickHouse insert.',
  },
  partitionsConcurrently: {
    env: 'METRICS_SINK_PARTITIONS_CONCURRENTLY',
    type: 'int',
    min: 1,
    max: 64,
    default: 6,
    doc: 'Partitions processed at the same time.',
  },
  retryMaxMs: {
    env: 'METRICS_SINK_RETRY_MAX_MS',
    type: 'int',
    min: 100,
    default: 5_000,
    doc: 'Longest wait between retries of a batch while ClickHouse is unavailable, in ms.',
  },
  sessionTimeoutMs: {
    env: 'METRICS_SINK_SESSION_TIMEOUT_MS',
    type: 'int',
    min: 6_000,
    default: 30_000,
    doc: 'Kafka group session timeout: how soon the partitions of a sink that died are given to another, in ms.',
  },
  ...grpcServerConfigSchema('METRICS_SINK', { port: 50070 }),
});

export type MetricsSinkConfig = ConfigOf<typeof metricsSinkConfigSchema>;

/** The resolved config; throws a ConfigError naming every invalid option by its environment variable. */
export function resolveMetricsSinkConfig(
  overrides: ConfigOverrides<typeof metricsSinkConfigSchema> = {},
  env: Readonly<Record<string, string | undefined>> = process.env,
): MetricsSinkConfig {
  return resolveConfig(metricsSinkConfigSchema, overrides, env);
}
