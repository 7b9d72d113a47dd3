// Entry point: `node dist/main.js` (or `tsx src/main.ts`). Configuration from GENERATION_* environment variables.
import { createLogger, resolveConfig, shutdownOnSignals } from '@select/platform';
import { generationConfigSchema } from './config.js';
import { startGenerationServer } from './server.js';

const logger = createLogger({ service: 'generation-service' });
const config = resolveConfig(generationConfigSchema);
const running = await startGenerationServer(config, { logger });
shutdownOnSignals(running.server, {
  afterShutdown: async () => {
    await running.jobs?.close();
    await running.models.close();
  },
});
