// Entry point: `node dist/main.js` (or `tsx src/main.ts`). Configuration from EMBEDDING_* environment variables.
import { createLogger, resolveConfig, shutdownOnSignals } from '@select/platform';
import { embeddingConfigSchema } from './config.js';
import { startEmbeddingServer } from './server.js';

const logger = createLogger({ service: 'embedding-service' });
const config = resolveConfig(embeddingConfigSchema);
const running = await startEmbeddingServer(config, { logger });
shutdownOnSignals(running.server, {
  afterShutdown: async () => {
    await running.jobs?.close();
    await running.engine.close();
  },
});
