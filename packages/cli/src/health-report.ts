// `select status`: Kafka, ClickHouse and the metrics sink checked the way their users reach them (brokers,
// the read-only SQL user, the sink's gRPC health service), in one view.
import { describeTopics } from '@select/events';
import { addClickHouseDefaults, queryReadOnlyTable, sqlString } from '@select/metrics';
import { resolveMetricsSinkConfig } from '@select/metrics-sink';
import { GrpcCallError, checkHealth, statusName } from '@select/platform';
import { addKafkaClientDefaults } from './kafka-client.js';
import { toCliError } from './errors.js';

export interface ComponentHealth {
  component: 'kafka' | 'clickhouse' | 'metrics-sink';
  healthy: boolean;
  /** Where it was checked: brokers, URL, or gRPC address. */
  target: string;
  /** One line on what was found. */
  detail: string;
  /** What to do when it is not healthy. */
  hint?: string;
}

export interface HealthReportOptions {
  /** Kafka bootstrap brokers. @default KAFKA_BROKERS, else 127.0.0.1:9092 */
  brokers?: string[];
  /** Topic prefix. @default KAFKA_TOPIC_PREFIX, else none */
  topicPrefix?: string;
  /** `host:port` of the sink's gRPC health service. @default METRICS_SINK_HOST:METRICS_SINK_PORT, else 127.0.0.1:50070 */
  sinkAddress?: string;
}

/** Checks the three components concurrently; never throws. */
export async function healthReport(options: HealthReportOptions = {}): Promise<ComponentHealth[]> {
  return Promise.all([checkKafka(options), checkClickHouse(), checkSink(options)]);
}

async function checkKafka(options: HealthReportOptions): Promise<ComponentHealth> {
  const kafka = addKafkaClientDefaults(options);
  const target = kafka.brokers.join(',');
  try {
    const topics = await describeTopics(kafka);
    const present = topics.filter((t) => t.partitions !== null).length;
    return { component: 'kafka', healthy: true, target, detail: `broker answers; ${present} of ${topics.length} event and dead-letter topics exist` };
  } catch (err) {
    const failure = toCliError(err, { brokers: kafka.brokers });
    return { component: 'kafka', healthy: false, target, detail: failure.message, ...(failure.hint ? { hint: failure.hint } : {}) };
  }
}

async function checkClickHouse(): Promise<ComponentHealth> {
  const { url, database } = addClickHouseDefaults();
  try {
    // As the read-only user and from `system`, so the check works before the sink has created the database.
    const { rows } = await queryReadOnlyTable(
      `SELECT version(), (SELECT count() FROM system.databases WHERE name = ${sqlString(database)}), ` +
        `(SELECT count() FROM system.tables WHERE database = ${sqlString(database)})`,
      { database: 'system' },
    );
    const [version, databases, tables] = rows[0] ?? [];
    const schema = Number(databases) > 0 ? `database ${database}: ${String(tables)} tables` : `database ${database} not created yet (the metrics sink creates it)`;
    return { component: 'clickhouse', healthy: true, target: url, detail: `ClickHouse ${String(version)}; ${schema}` };
  } catch (err) {
    const failure = toCliError(err, { clickhouseUrl: url });
    return { component: 'clickhouse', healthy: false, target: url, detail: failure.message, ...(failure.hint ? { hint: failure.hint } : {}) };
  }
}

async function checkSink(options: HealthReportOptions): Promise<ComponentHealth> {
  const target = options.sinkAddress ?? defaultSinkAddress();
  const hint = 'Start it with `select sink` (foreground) or `bash scripts/main.sh`.';
  try {
    const status = await checkHealth(target, { deadlineMs: 3_000 });
    if (status === 'SERVING') return { component: 'metrics-sink', healthy: true, target, detail: 'gRPC health: SERVING' };
    return {
      component: 'metrics-sink',
      healthy: false,
      target,
      detail: `gRPC health: ${status}`,
      hint: 'The sink reports NOT_SERVING while ClickHouse is unavailable; see its log.',
    };
  } catch (err) {
    const why = err instanceof GrpcCallError ? statusName(err.code) : err instanceof Error ? err.message : String(err);
    return { component: 'metrics-sink', healthy: false, target, detail: `no answer from its gRPC health service (${why})`, hint };
  }
}

/** Where the sink serves health by its own config (METRICS_SINK_HOST/PORT); a wildcard bind is reached on loopback. */
function defaultSinkAddress(): string {
  const { host, port } = resolveMetricsSinkConfig();
  const reachable = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}
