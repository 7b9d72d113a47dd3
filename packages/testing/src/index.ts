// Public entry of @select/testing: helpers for the integration tests of other packages. Production code
// never imports this package.
export { holdClickHouseUp, withClickHouseOutage } from './clickhouse-outage.js';
export { deleteTopicsWithPrefix, testBrokers } from './kafka-topics.js';
export { spawnWithJsonLogs, type JsonLogProcess } from './json-log-process.js';
export { seededRandom } from './seeded-random.js';
