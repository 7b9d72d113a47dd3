// Entry point: `node dist/main.js` (or `tsx src/main.ts`). Configuration from TRAINER_* environment variables.
import { createLogger, resolveConfig, shutdownOnSignals } from '@select/platform';
import { trainerConfigSchema } from './config.js';
import { startTrainerServer } from './server.js';

const logger = createLogger({ service: 'trainer-service' });
const config = resolveConfig(trainerConfigSchema);
const running = await startTrainerServer(config, { logger });
shutdownOnSignals(running.server, {
  afterShutdown: async () => {
    await running.runtime.close();
    await running.board.close();
  },
});
