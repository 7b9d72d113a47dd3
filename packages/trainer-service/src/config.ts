import { defineConfigSchema, grpcServerConfigSchema, type ConfigOf } from '@select/platform';

/** Every option of the trainer service, from code > environment > default (see README for the table). */
export const trainerConfigSchema = defineConfigSchema({
  ...grpcServerConfigSchema('TRAINER', { port: 50065 }),
  runsDir: {
    env: 'TRAINER_RUNS_DIR',
    type: 'string',
    doc: 'Where runs live: <runs dir>/<run id>/ (request, timm output folder, features, exports) and <runs dir>/.jobs (job state).',
  },
  shiftRoot: {
    env: 'TRAINER_SHIFT_ROOT',
    type: 'string',
    optional: true,
    doc: 'Directory relative shift_uri values are resolved against; unset: shift_uri must be absolute.',
  },
  concurrency: {
    env: 'TRAINER_CONCURRENCY',
    type: 'int',
    min: 1,
    max: 64,
    default: 2,
    doc: 'Runs at once (all backends together); more wait QUEUED.',
  },
  python: {
    env: 'TRAINER_PYTHON',
    type: 'string',
    default: '.work/py/bin/python',
    doc: 'Python interpreter with torch and timm (scripts/python-env.sh makes .work/py); relative to the working directory.',
  },
  timmCommand: {
    env: 'TRAINER_TIMM_COMMAND',
    type: 'string',
    optional: true,
    doc: 'Training command (argv, space separated) given train.py arguments; unset: the project\'s python/train_select.py. E.g. "/opt/timm/train.py" or "python3 /opt/select/train/train.py".',
  },
  timmNproc: {
    env: 'TRAINER_TIMM_NPROC',
    type: 'int',
    min: 1,
    max: 64,
    default: 1,
    doc: 'Training processes per run: above 1 the command runs under torchrun (python -m torch.distributed.run --nproc_per_node N).',
  },
  torchThreads: {
    env: 'TRAINER_TORCH_THREADS',
    type: 'int',
    min: 0,
    max: 256,
    default: 0,
    doc: 'Threads of training processes (OMP_NUM_THREADS) and probes (torch.set_num_threads); 0: PyTorch decides.',
  },
  embeddingAddress: {
    env: 'TRAINER_EMBEDDING_ADDRESS',
    type: 'string',
    optional: true,
    doc: 'host:port of the embedding service (linear-probe and knn-bank features); unset: only features_uri works.',
  },
  retrievalAddress: {
    env: 'TRAINER_RETRIEVAL_ADDRESS',
    type: 'string',
    optional: true,
    doc: 'host:port of the retrieval service the kNN banks are stored in; unset: knn-bank runs are refused.',
  },
  minFreeBytes: {
    env: 'TRAINER_MIN_FREE_BYTES',
    type: 'int',
    min: 0,
    default: 256 * 1024 * 1024,
    doc: 'A run does not start (and a timm run stops, resumable) when its disk has less free space than this.',
  },
  kafkaTopicPrefix: {
    env: 'TRAINER_KAFKA_TOPIC_PREFIX',
    type: 'string',
    default: '',
    doc: 'Prefix of the Kafka topics metrics and job events go to (brokers from KAFKA_BROKERS).',
  },
  publishEvents: {
    env: 'TRAINER_PUBLISH_EVENTS',
    type: 'bool',
    default: true,
    doc: 'Publish TrainingMetric (select.training.v1) and job lifecycle/progress (select.jobs.v1) events.',
  },
});

export type TrainerConfig = ConfigOf<typeof trainerConfigSchema>;
