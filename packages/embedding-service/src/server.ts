import { availableParallelism } from 'node:os';
import { packageDefinition } from '@select/contracts';
import { ServiceError, createGrpcServer, createLogger, serverOptionsFromConfig, type GrpcServer, type Logger } from '@select/platform';
import { nativeJpegDecoder } from '@select/vision';
import { embedImagesHandler } from './embed-images.js';
import { embedTextsHandler } from './embed-texts.js';
import type { EmbeddingConfig } from './config.js';
import { EmbeddingEngine } from './embedding-engine.js';
import { scanModels, type ModelSpec } from './model-layout.js';
import { getModelHandler, listModelsHandler } from './model-info.js';
import type { JobRuntime } from '@select/jobs';
import { datasetJobHandlers, openDatasetJobs } from './embed-dataset-job.js';

export const SERVICE_NAME = 'select.embedding.v1.EmbeddingService';

export interface EmbeddingServer {
  server: GrpcServer;
  engine: EmbeddingEngine;
  /** Dataset jobs; undefined when EMBEDDING_JOBS_DIR is not set. */
  jobs: JobRuntime | undefined;
  /** Bound address, host:port. */
  address: string;
  /** Stop serving (graceful drain), finish queued work, release sessions and threads. */
  close(): Promise<void>;
}

/** The default model: the configured one, else the first image-text model, else the first model. */
export function pickDefaultModel(specs: ModelSpec[], configured: string | undefined): string {
  if (configured) {
    if (!specs.some((s) => s.name === configured)) {
      throw new Error(`EMBEDDING_DEFAULT_MODEL=${configured} is not one of the models: ${specs.map((s) => s.name).join(', ')}`);
    }
    return configured;
  }
  return (specs.find((s) => s.kind === 'image-text') ?? specs[0])?.name ?? '';
}

/**
 * Inference workers when EMBEDDING_INFERENCE_WORKERS is unset: two, each with half the cores for intra-op threads
 * (one on a 1-core machine). On the 2-core reference VM two single-threaded workers beat one worker with both
 * threads in 8 of 10 paired repeats of the embedding benchmark (medians 1.174x and 1.112x; decoding shares the
 * cores, and a preempted intra-op thread holds up the whole operator); two, not one per core, bounds the memory
 * (every worker opens every model) on bigger machines, where the split is not measured.
 */
export const defaultInferenceWorkers = (): number => Math.min(2, availableParallelism());

/** Load the models, start the engine and the gRPC server (health, reflection, deadlines from @select/platform). */
export async function startEmbeddingServer(config: EmbeddingConfig, options: { logger?: Logger } = {}): Promise<EmbeddingServer> {
  const logger = options.logger ?? createLogger({ service: 'embedding-service' });
  const specs = await scanModels(config.modelsDir);
  if (specs.length === 0) throw new Error(`no model directories under ${config.modelsDir}`);
  const defaultModel = pickDefaultModel(specs, config.defaultModel);
  const engine = await EmbeddingEngine.start(specs, {
    sessions: { workers: config.inferenceWorkers ?? defaultInferenceWorkers(), intraOpThreads: config.intraOpThreads, allowSpinning: config.allowSpinning },
    preprocess: { threads: config.preprocessThreads, maxPending: config.maxPendingImages, maxPixels: config.maxPixels, mode: config.preprocessMode, niceness: config.preprocessNiceness },
    batching: { maxBatch: config.maxBatch, maxWaitMs: config.maxWaitMs, maxQueue: config.maxQueue, balance: config.balanceBatches },
    maxTextChars: config.maxTextChars,
    recycleBuffers: config.recycleBuffers,
  });
  for (const s of specs) {
    logger.info({ model: s.name, kind: s.kind, layout: s.layout, dimension: s.dimension, files: s.files }, 'model loaded');
  }
  let jobs: JobRuntime | undefined;
  try {
    jobs = await openDatasetJobs(engine, {
      jobsDir: config.jobsDir,
      defaultModel,
      logger,
      topicPrefix: config.kafkaTopicPrefix,
      publishEvents: config.publishJobEvents,
      concurrency: config.jobConcurrency,
    });
  } catch (err) {
    await engine.close();
    throw err;
  }
  const server = createGrpcServer({ ...serverOptionsFromConfig(config), name: 'embedding-service', logger });
  server.addService(packageDefinition('embedding'), SERVICE_NAME, {
    EmbedImages: embedImagesHandler(engine, {
      defaultModel,
      imageRoot: config.imageRoot,
      maxImageBytes: config.maxImageBytes,
      window: config.streamWindow,
    }),
    EmbedTexts: embedTextsHandler(engine, { defaultModel, maxTextsPerCall: config.maxTextsPerCall }),
    ListModels: listModelsHandler(engine),
    GetModel: getModelHandler(engine),
    ...datasetJobHandlers(jobs),
  });
  let address: string;
  try {
    await jobs?.resume();
    address = (await server.start()).address;
  } catch (err) {
    await jobs?.close();
    await engine.close();
    throw err;
  }
  logger.info(
    { address, models: specs.map((s) => s.name), defaultModel, preprocessing: { mode: config.preprocessMode, jpeg: nativeJpegDecoder() ?? 'sharp' } },
    'embedding service listening',
  );
  return {
    server,
    engine,
    jobs,
    address,
    async close() {
      // Running dataset jobs checkpoint (they resume at the next start) while the server drains its calls.
      await Promise.all([server.shutdown(), jobs?.close()]);
      await engine.close();
    },
  };
}

export { ServiceError };
