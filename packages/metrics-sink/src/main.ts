// Entry point: `node packages/metrics-sink/dist/main.js` (or `select sink`). See run.ts for the signals and
// exit codes.
import { runMetricsSink } from './run.js';

void runMetricsSink();
