// Public entry of @select/metrics-sink: consumes every event topic and materialises it into ClickHouse
// tables, replay-safe. Run it with `node packages/metrics-sink/dist/main.js`; the exports let tools and the
// CLI name its tables, apply its migrations or embed it.
export { metricsSinkConfigSchema, resolveMetricsSinkConfig, type MetricsSinkConfig } from './config.js';
export { METRICS_SINK_MIGRATIONS, TABLE_COLUMNS, type SinkTable } from './schema.js';
export { eventToRow, type TableRow } from './event-rows.js';
export { createMetricsSink, SINK_TOPICS, type MetricsSink, type MetricsSinkOptions } from './sink.js';
export { SinkStoppedError, UnsupportedEventError } from './errors.js';
