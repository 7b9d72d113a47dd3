// Run by flood.spec.ts as a separate process, so that its memory is the service's alone:
//   node --import tsx server-child.test-util.ts <config overrides JSON>
// Starts the embedding service on the fixture models, prints "listening <address>", stops on SIGTERM.
import { createLogger, resolveConfig } from '@select/platform';
import { embeddingConfigSchema } from './config.js';
import { MODELS_DIR } from './fixtures.test-util.js';
import { startEmbeddingServer } from './server.js';

const overrides = JSON.parse(process.argv[2] ?? '{}') as Record<string, unknown>;
const config = resolveConfig(embeddingConfigSchema, { modelsDir: MODELS_DIR, port: 0, publishJobEvents: false, ...overrides }, {});
const running = await startEmbeddingServer(config, { logger: createLogger({ service: 'embedding-flood', level: 'silent' }) });
process.stdout.write(`listening ${running.address}\n`);
process.once('SIGTERM', () => {
  void running.close().then(() => process.exit(0));
});
