import { packageDefinition, type commonV1, type generationV1 } from '@select/contracts';
import { createGrpcServer, createLogger, serverOptionsFromConfig, type GrpcServer, type Logger } from '@select/platform';
import { BatchJobs } from './batch-jobs.js';
import type { GenerationConfig } from './config.js';
import { generateHandlers } from './generate-handlers.js';
import { ModelRegistry } from './model-registry.js';

export const SERVICE_NAME = 'select.generation.v1.GenerationService';

export interface GenerationServer {
  server: GrpcServer;
  models: ModelRegistry;
  jobs: BatchJobs;
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
  const jobs = new BatchJobs({
    models,
    jobsDir: config.jobsDir,
    logger,
    progressIntervalMs: config.jobProgressIntervalMs,
    kafka: config.publishJobEvents ? { brokers: config.kafkaBrokers, topicPrefix: config.kafkaTopicPrefix } : undefined,
  });
  const server = createGrpcServer({ ...serverOptionsFromConfig(config), name: 'generation-service', logger });
  server.addService(packageDefinition('generation'), SERVICE_NAME, {
    ...generateHandlers(models, { maxConcurrentCalls: config.maxConcurrentCalls, maxImageBytes: config.maxImageBytes }),
    StartBatch: (req: generationV1.BatchRequest__Output) => jobs.start(req),
    GetJob: (req: commonV1.JobRef__Output) => jobs.get(req.jobId),
    CancelJob: (req: commonV1.JobRef__Output) => jobs.cancel(req.jobId),
  });
  let address: string;
  try {
    await jobs.restore();
    address = (await server.start()).address;
  } catch (err) {
    await jobs.close();
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
      await server.shutdown();
      await jobs.close();
      await models.close();
    },
  };
}
