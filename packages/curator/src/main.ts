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
  // Builds stop first, at once: they checkpoint (committed tasks stay, the job stays RUNNING and resumes
  // at the next start) and their WatchJob streams end, so the server's drain does not wait out its
  // grace period for them; then the server drains and local workers leave the group.
  const stopBuilds = (): void => {
    void running.curation.close().catch((error: unknown) => logger.error({ err: error }, 'stopping the builds failed'));
  };
  process.once('SIGTERM', stopBuilds);
  process.once('SIGINT', stopBuilds);
  shutdownOnSignals(running.server, { afterShutdown: () => running.release() });
}
