import { defineConfigSchema, grpcServerConfigSchema, type ConfigOf } from '@select/platform';

/** Every option of the evaluator service, from code > environment > default (table in the README). */
export const evaluatorConfigSchema = defineConfigSchema({
  ...grpcServerConfigSchema('EVALUATOR', { port: 50066 }),
  dataDir: {
    env: 'EVALUATOR_DATA_DIR',
    type: 'string',
    doc: 'Directory of job state (.jobs/) and evaluation outputs (evaluations/<eval id>/: predictions, results.json, kNN banks).',
  },
  kafkaBrokers: {
    env: 'KAFKA_BROKERS',
    type: 'list',
    default: ['127.0.0.1:9092'],
    doc: 'Kafka bootstrap brokers: EvaluationResult events and job lifecycle/progress.',
  },
  kafkaTopicPrefix: {
    env: 'EVALUATOR_KAFKA_TOPIC_PREFIX',
    type: 'string',
    default: '',
    doc: 'Prefix of the Kafka topics results and job events go to.',
  },
  embeddingAddress: {
    env: 'EVALUATOR_EMBEDDING_ADDRESS',
    type: 'string',
    optional: true,
    doc: 'host:port of the embedding service (kNN encoder, inputs of linear-probe heads); unset: those evaluations are refused.',
  },
  retrievalAddress: {
    env: 'EVALUATOR_RETRIEVAL_ADDRESS',
    type: 'string',
    optional: true,
    doc: 'host:port of the retrieval service holding kNN banks the trainer stored (bank_uri retrieval://<index>); unset: such banks are refused.',
  },
  clickhouseUrl: {
    env: 'CLICKHOUSE_URL',
    type: 'string',
    default: 'http://127.0.0.1:8123',
    doc: 'ClickHouse the leaderboard is read from (the sink writes it).',
  },
  clickhouseDatabase: {
    env: 'CLICKHOUSE_DATABASE',
    type: 'string',
    default: 'select',
    doc: 'Database of the sink’s tables and views.',
  },
  concurrency: {
    env: 'EVALUATOR_CONCURRENCY',
    type: 'int',
    min: 1,
    max: 16,
    default: 1,
    doc: 'Evaluation jobs running at once; more wait QUEUED.',
  },
  threads: {
    env: 'EVALUATOR_THREADS',
    type: 'int',
    min: 0,
    max: 256,
    default: 0,
    doc: 'onnxruntime threads per model and per kNN/CMMD product; 0: one per core.',
  },
  checkpointEvery: {
    env: 'EVALUATOR_CHECKPOINT_EVERY',
    type: 'int',
    min: 1,
    default: 2048,
    doc: 'Images between checkpoints of a classifier evaluation (cursor, metric state, predictions length).',
  },
  embedPartRows: {
    env: 'EVALUATOR_EMBED_PART_ROWS',
    type: 'int',
    min: 1,
    default: 1024,
    doc: 'Features per part file of a kNN embedding phase; the phase is checkpointed after each part.',
  },
});

export type EvaluatorConfig = ConfigOf<typeof evaluatorConfigSchema>;
