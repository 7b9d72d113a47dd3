// The embedding service as deployed (a child process on port 0), for the text-similarity tests.
import { fileURLToPath } from 'node:url';
import { spawnWithJsonLogs, type JsonLogProcess } from '@select/testing';

const EMBEDDING_DIR = fileURLToPath(new URL('../../embedding-service', import.meta.url));
export const FIXTURE_MODELS = fileURLToPath(new URL('../../../tools/fixtures/embedding/models', import.meta.url));

export async function startEmbeddingService(modelsDir: string, port = '0'): Promise<{ address: string; process: JsonLogProcess; stop(): Promise<void> }> {
  const child = spawnWithJsonLogs(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: EMBEDDING_DIR,
    env: { ...process.env, EMBEDDING_MODELS_DIR: modelsDir, EMBEDDING_PORT: port, EMBEDDING_PUBLISH_JOB_EVENTS: 'false', LOG_LEVEL: 'info' },
  });
  const listening = await child.waitForLog('embedding service listening', 120_000);
  return {
    address: String(listening['address']),
    process: child,
    async stop() {
      child.child.kill('SIGTERM');
      await child.exited;
    },
  };
}
