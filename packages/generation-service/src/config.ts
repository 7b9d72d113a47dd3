import { defineConfigSchema, grpcServerConfigSchema, type ConfigOf } from '@select/platform';

/** Every option of the generation service, from code > environment > default (table in README). */
export const generationConfigSchema = defineConfigSchema({
  ...grpcServerConfigSchema('GENERATION', { port: 50063 }),
  modelsDir: {
    env: 'GENERATION_MODELS_DIR',
    type: 'string',
    doc: 'Directory whose subdirectories are Stable Diffusion ONNX exports (optimum layout, or image-variations); each is served under its directory name.',
  },
  defaultModel: {
    env: 'GENERATION_DEFAULT_MODEL',
    type: 'string',
    optional: true,
    doc: 'Model used when a request names none; unset: the first text-to-image model by name.',
  },
  intraOpThreads: {
    env: 'GENERATION_INTRA_OP_THREADS',
    type: 'int',
    min: 1,
    max: 256,
    default: 2,
    doc: 'ONNX Runtime threads per operator. Part of what makes images bit-identical: keep it fixed across restarts.',
  },
  maxSide: { env: 'GENERATION_MAX_SIDE', type: 'int', min: 8, default: 1024, doc: 'Largest width or height a request may ask for.' },
  maxSteps: { env: 'GENERATION_MAX_STEPS', type: 'int', min: 1, default: 150, doc: 'Most denoising steps a request may ask for.' },
  maxImages: { env: 'GENERATION_MAX_IMAGES', type: 'int', min: 1, default: 8, doc: 'Most images one request may ask for.' },
  maxConcurrentCalls: {
    env: 'GENERATION_MAX_CONCURRENT_CALLS',
    type: 'int',
    min: 1,
    default: 4,
    doc: 'Generation calls served at once (they share the CPU step by step); more get RESOURCE_EXHAUSTED.',
  },
  maxImageBytes: {
    env: 'GENERATION_MAX_IMAGE_BYTES',
    type: 'int',
    min: 1024,
    default: 20 * 1024 * 1024,
    doc: 'Largest init or reference image accepted, in bytes.',
  },
  jobsDir: {
    env: 'GENERATION_JOBS_DIR',
    type: 'string',
    optional: true,
    doc: 'Where batch jobs keep their state (for GetJob after a restart, and resuming); unset: batch jobs are refused.',
  },
  kafkaBrokers: {
    env: 'KAFKA_BROKERS',
    type: 'list',
    default: ['127.0.0.1:9092'],
    doc: 'Kafka bootstrap brokers for job lifecycle and progress events.',
  },
  kafkaTopicPrefix: { env: 'GENERATION_KAFKA_TOPIC_PREFIX', type: 'string', default: '', doc: 'Prefix of every Kafka topic name (tests, multi-tenant clusters).' },
  jobProgressIntervalMs: {
    env: 'GENERATION_JOB_PROGRESS_INTERVAL_MS',
    type: 'int',
    min: 0,
    default: 2000,
    doc: 'Minimum time between two JobProgress events (and state-file writes) of a batch job, in ms.',
  },
  jobConcurrency: {
    env: 'GENERATION_JOB_CONCURRENCY',
    type: 'int',
    min: 1,
    default: 1,
    doc: 'Batch jobs running at once; more wait QUEUED (they share the model workers).',
  },
  publishJobEvents: {
    env: 'GENERATION_PUBLISH_JOB_EVENTS',
    type: 'bool',
    default: true,
    doc: 'Publish JobLifecycle and JobProgress events of batch jobs to Kafka (topic select.jobs.v1).',
  },
});

export type GenerationConfig = ConfigOf<typeof generationConfigSchema>;
