// Entry point: `node dist/main.js` (or `tsx src/main.ts`). Configuration from EVALUATOR_* environment variables.
import { createLogger, resolveConfig, shutdownOnSignals } from '@select/platform';
import { evaluatorConfigSchema } from './config.js';
import { startEvaluatorServer } from './server.js';

const logger = createLogger({ service: 'evaluator-service' });
const config = resolveConfig(evaluatorConfigSchema);
const running = await startEvaluatorServer(config, { logger });
shutdownOnSignals(running.server, {
  afterShutdown: async () => {
    await running.close();
  },
});
