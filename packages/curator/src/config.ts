import { defineConfigSchema, grpcServerConfigSchema, type ConfigOf } from '@select/platform';

/** Every option of the curator service and its workers, from code > environment > default (README table). */
export const curatorConfigSchema = defineConfigSchema({
  ...grpcServerConfigSchema('CURATOR', { port: 50064 }),
  dataDir: {
    env: 'CURATOR_DATA_DIR',
    type: 'string',
    default: '.work/curator',
    doc: 'Where build jobs keep their state (jobs/) and where shifts go when a request gives no output_uri (shifts/).',
  },
  kafkaBrokers: { env: 'KAFKA_BROKERS', type: 'list', default: ['127.0.0.1:9092'], doc: 'Kafka bootstrap brokers: tasks, decisions, samples, shift and job events.' },
  kafkaTopicPrefix: { env: 'CURATOR_KAFKA_TOPIC_PREFIX', type: 'string', default: '', doc: 'Prefix of every Kafka topic name (tests, side-by-side deployments).' },
  workerGroupId: { env: 'CURATOR_WORKER_GROUP', type: 'string', default: 'select-curator-workers', doc: 'Consumer group of the curator workers on the tasks topic.' },
  localWorkers: {
    env: 'CURATOR_LOCAL_WORKERS',
    type: 'int',
    min: 0,
    max: 64,
    default: 1,
    doc: 'Workers the service runs in its own process (0: only separate `select curator worker` processes do tasks).',
  },
  concurrentBuilds: { env: 'CURATOR_CONCURRENT_BUILDS', type: 'int', min: 1, max: 64, default: 2, doc: 'Builds coordinated at once; more wait QUEUED.' },
  taskSize: { env: 'CURATOR_TASK_SIZE', type: 'int', min: 1, max: 1_000_000, default: 1000, doc: 'Pool records per shard task when a request gives none.' },
  maxTaskSize: { env: 'CURATOR_MAX_TASK_SIZE', type: 'int', min: 1, default: 1_000_000, doc: 'Largest task_size a request may ask for.' },
  sessionTimeoutMs: {
    env: 'CURATOR_WORKER_SESSION_TIMEOUT_MS',
    type: 'int',
    min: 6000,
    max: 300_000,
    default: 10_000,
    doc: "How long the broker waits for a silent worker before its tasks go to another (Kafka's group.min.session.timeout.ms is 6000).",
  },
  workerConcurrentTasks: {
    env: 'CURATOR_WORKER_CONCURRENT_TASKS',
    type: 'int',
    min: 1,
    max: 16,
    default: 2,
    doc: 'Tasks one worker runs at once; the second keeps it busy while the first waits for acks, fsyncs and its offset commit.',
  },
  workerId: { env: 'CURATOR_WORKER_ID', type: 'string', optional: true, doc: "A worker's name in logs and task.json; unset: <host>-<pid>." },
  embeddingAddress: {
    env: 'CURATOR_EMBEDDING_ADDRESS',
    type: 'string',
    optional: true,
    doc: 'host:port of the embedding service (text-similarity, CLIP steps); unset: steps that need it are refused.',
  },
  retrievalAddress: { env: 'CURATOR_RETRIEVAL_ADDRESS', type: 'string', optional: true, doc: 'host:port of the retrieval service (retrieval strategies).' },
  generationAddress: { env: 'CURATOR_GENERATION_ADDRESS', type: 'string', optional: true, doc: 'host:port of the generation service (Stable Diffusion strategies).' },
  progressIntervalMs: { env: 'CURATOR_PROGRESS_INTERVAL_MS', type: 'int', min: 0, default: 1000, doc: 'Least time between two persisted/published progress reports of a build.' },
  noWorkerCheckMs: {
    env: 'CURATOR_NO_WORKER_CHECK_MS',
    type: 'int',
    min: 0,
    default: 20_000,
    doc: "How long a build's tasks may wait with no task committed and no worker preparing before the curator asks Kafka whether any worker is in the group, and says so in the build's status when none is (0: never asks).",
  },
});

export type CuratorConfig = ConfigOf<typeof curatorConfigSchema>;
