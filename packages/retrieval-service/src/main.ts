// Entry point: `node dist/main.js` (or `tsx src/main.ts`). Configuration from RETRIEVAL_* environment variables.
import { createLogger, resolveConfig, shutdownOnSignals } from '@select/platform';
import { retrievalConfigSchema } from './config.js';
import { startRetrievalServer } from './server.js';

const logger = createLogger({ service: 'retrieval-service' });
const config = resolveConfig(retrievalConfigSchema);
const running = await startRetrievalServer(config, { logger });
shutdownOnSignals(running.server, {
  afterShutdown: async () => {
    await running.close();
  },
});
