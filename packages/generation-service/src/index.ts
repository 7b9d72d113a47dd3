// Public entry of @select/generation-service: gRPC image generation service (streaming progress and
// images, batch jobs into shifts).
export {
  BATCH_JOB_KIND,
  batchJobHandlers,
  generateBatchJob,
  openBatchJobs,
  type BatchJobsOptions,
  type BatchParams,
  type BatchRequestMessage,
  type JobStatusMessage,
} from './generate-batch-job.js';
export { generationConfigSchema, type GenerationConfig } from './config.js';
export { ModelRegistry } from './model-registry.js';
export { SERVICE_NAME, startGenerationServer, type GenerationServer } from './server.js';
