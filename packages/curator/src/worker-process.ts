import { createLogger, type Logger } from '@select/platform';
import type { CuratorConfig } from './config.js';
import { createServiceClients } from './services.js';
import { createStepRegistry } from './steps.js';
import { CuratorWorker } from './worker.js';

/**
 * A curator worker as its own process (`select curator worker`, `node dist/main.js worker`): joins the
 * workers' consumer group and runs shard tasks until SIGINT/SIGTERM, then finishes or abandons the task
 * in flight (abandoned tasks are redone by another worker) and leaves the group.
 */
export async function runCuratorWorker(config: CuratorConfig, options: { logger?: Logger; workerId?: string } = {}): Promise<CuratorWorker> {
  const logger = options.logger ?? createLogger({ service: 'curator-worker' });
  const services = createServiceClients(config);
  const worker = new CuratorWorker({
    registry: createStepRegistry(),
    services,
    logger,
    brokers: config.kafkaBrokers,
    topicPrefix: config.kafkaTopicPrefix,
    groupId: config.workerGroupId,
    sessionTimeoutMs: config.sessionTimeoutMs,
    concurrentTasks: config.workerConcurrentTasks,
    ...((options.workerId ?? config.workerId) === undefined ? {} : { workerId: options.workerId ?? config.workerId }),
  });
  await worker.start();
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void worker.stop().then(
      () => {
        services.close();
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'worker did not stop cleanly');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return worker;
}
