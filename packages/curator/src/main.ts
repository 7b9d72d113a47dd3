// Entry point of the curator service: `node dist/main.js` (or `tsx src/main.ts`). Configuration from
// CURATOR_* and KAFKA_BROKERS environment variables (README). `node dist/main.js worker` runs a worker.
import { createLogger, resolveConfig, shutdownOnSignals } from '@select/platform';
import { curatorConfigSchema } from './config.js';
import { startCuratorServer } from './server.js';
import { runCuratorWorker } from './worker-process.js';

const config = resolveConfig(curatorConfigSchema);
if (process.argv[2] === 'worker') {
  await runCuratorWorker(config);
} else {
  const logger = createLogger({ service: 'curator' });
  const running = await startCuratorServer(config, { logger });
  shutdownOnSignals(running.server, { afterShutdown: () => running.release() });
}
