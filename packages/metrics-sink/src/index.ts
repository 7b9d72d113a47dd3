// Public entry of @select/metrics-sink: consumes every event topic and materialises it into ClickHouse
// tables, replay-safe. Run it with `node packages/metrics-sink/dist/main.js` or `select sink`; the exports let
// tools and the CLI name its tables, apply its migrations, embed it or run it in the foreground.
export { metricsSinkConfigSchema, resolveMetricsSinkConfig, type MetricsSinkConfig } from './config.js';
export { METRICS_SINK_MIGRATIONS, TABLE_COLUMNS, type SinkTable } from './schema.js';
export { EVALUATION_EXAMPLE_QUERIES, EVALUATION_MIGRATIONS } from './schema-evaluation.js';
export { eventToRow, type TableRow } from './event-rows.js';
export { createMetricsSink, SINK_TOPICS, type MetricsSink, type MetricsSinkOptions } from './sink.js';
export { SinkStoppedError, UnsupportedEventError } from './errors.js';
export { INTERRUPTED_EXIT_CODE, runMetricsSink } from './run.js';
