import { packageDefinition } from '@select/contracts';
import type { JobRuntime } from '@select/jobs';
import { createGrpcServer, createLogger, serverOptionsFromConfig, type GrpcServer, type Logger } from '@select/platform';
import { batchJobHandlers, openBatchJobs } from './generate-batch-job.js';
import type { GenerationConfig } from './config.js';
import { generateHandlers } from './generate-handlers.js';
import { ModelRegistry } from './model-registry.js';

export const SERVICE_NAME = 'select.generation.v1.GenerationService';

export interface GenerationServer {
  server: GrpcServer;
  models: ModelRegistry;
  /** Batch jobs; undefined when GENERATION_JOBS_DIR is not set. */
  jobs: JobRuntime | undefined;
  /** Bound address, host:port. */
  address: string;
  /** Graceful drain, then stop batch jobs (resumable) and release the model workers. */
  close(): Promise<void>;
}

/** Loads the models, restores batch jobs and starts the gRPC server (health, reflection, deadlines). */
export async function startGenerationServer(config: GenerationConfig, options: { logger?: Logger } = {}): Promise<GenerationServer> {
  const logger = options.logger ?? createLogger({ service: 'generation-service' });
  const models = await ModelRegistry.load(config.modelsDir, {
    defaultModel: config.defaultModel,
    limits: { maxSide: config.maxSide, maxSteps: config.maxSteps, maxImages: config.maxImages },
    intraOpThreads: config.intraOpThreads,
    logger,
  });
  let jobs: JobRuntime | undefined;
  try {
    jobs = await openBatchJobs(models, {
      jobsDir: config.jobsDir,
      logger,
      progressIntervalMs: config.jobProgressIntervalMs,
      concurrency: config.jobConcurrency,
      kafka: config.publishJobEvents ? { brokers: config.kafkaBrokers, topicPrefix: config.kafkaTopicPrefix } : undefined,
    });
  } catch (err) {
    await models.close();
    throw err;
  }
  const server = createGrpcServer({ ...serverOptionsFromConfig(config), name: 'generation-service', logger });
  server.addService(packageDefinition('generation'), SERVICE_NAME, {
    ...generateHandlers(models, { maxConcurrentCalls: config.maxConcurrentCalls, maxImageBytes: config.maxImageBytes }),
    ...batchJobHandlers(jobs),
  });
  let address: string;
  try {
    await jobs?.resume();
    address = (await server.start()).address;
  } catch (err) {
    await jobs?.close();
    await models.close();
    throw err;
  }
  logger.info({ address, models: models.list().map((p) => p.info.name), defaultModel: models.defaultModel }, 'generation service listening');
  return {
    server,
    models,
    jobs,
    address,
    async close() {
      // Running batches stop resumable (suspended shifts, RUNNING on disk) while the server drains its calls.
      await Promise.all([server.shutdown(), jobs?.close()]);
      await models.close();
    },
  };
}
