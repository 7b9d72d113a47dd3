// Public entry of @select/testing: helpers for the integration tests of other packages. Production code
// never imports this package.
export { holdClickHouseUp, withClickHouseOutage } from './clickhouse-outage.js';
