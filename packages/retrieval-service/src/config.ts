import { defineConfigSchema, grpcServerConfigSchema, type ConfigOf } from '@select/platform';

/** Every option of the retrieval service, from code > environment > default (table in the README). */
export const retrievalConfigSchema = defineConfigSchema({
  ...grpcServerConfigSchema('RETRIEVAL', { port: 50062 }),
  dataDir: {
    env: 'RETRIEVAL_DATA_DIR',
    type: 'string',
    doc: 'Directory holding one sub-directory per index (snapshots and write-ahead logs).',
  },
  threads: {
    env: 'RETRIEVAL_THREADS',
    type: 'int',
    min: 1,
    max: 256,
    optional: true,
    doc: 'Native threads one search or add fans out to; unset: one per core.',
  },
  maxConcurrentSearches: {
    env: 'RETRIEVAL_MAX_CONCURRENT_SEARCHES',
    type: 'int',
    min: 1,
    max: 64,
    default: 2,
    doc: 'Searches that run at once (each on `threads` threads); more wait in line.',
  },
  maxQueuedSearches: {
    env: 'RETRIEVAL_MAX_QUEUED_SEARCHES',
    type: 'int',
    min: 0,
    max: 100_000,
    default: 256,
    doc: 'Searches that may wait for a slot; beyond that a search fails with RESOURCE_EXHAUSTED.',
  },
  snapshotAfterLogBytes: {
    env: 'RETRIEVAL_SNAPSHOT_AFTER_LOG_BYTES',
    type: 'int',
    min: 0,
    default: 1_073_741_824,
    doc: "Write a snapshot once an index's write-ahead log passes this size; 0: only on Snapshot calls.",
  },
  addBatchSize: {
    env: 'RETRIEVAL_ADD_BATCH_SIZE',
    type: 'int',
    min: 1,
    max: 65_536,
    default: 1_024,
    doc: 'Vectors of an AddVectors stream or a bulk load logged and inserted together.',
  },
  jobConcurrency: {
    env: 'RETRIEVAL_JOB_CONCURRENCY',
    type: 'int',
    min: 1,
    max: 64,
    default: 2,
    doc: 'BulkLoad jobs running at once; more wait QUEUED. Job state lives in `<RETRIEVAL_DATA_DIR>/.jobs`.',
  },
  publishJobEvents: {
    env: 'RETRIEVAL_PUBLISH_JOB_EVENTS',
    type: 'bool',
    default: true,
    doc: 'Publish JobLifecycle and JobProgress events of BulkLoad jobs to Kafka (topic select.jobs.v1).',
  },
  kafkaBrokers: {
    env: 'KAFKA_BROKERS',
    type: 'list',
    default: ['127.0.0.1:9092'],
    doc: 'Kafka bootstrap brokers for job lifecycle and progress events.',
  },
  kafkaTopicPrefix: {
    env: 'KAFKA_TOPIC_PREFIX',
    type: 'string',
    default: '',
    doc: 'Prefix of every Kafka topic name (tests, multi-tenant clusters).',
  },
});

export type RetrievalConfig = ConfigOf<typeof retrievalConfigSchema>;
