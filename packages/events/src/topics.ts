import type {
  CandidateDecision__Output,
  CandidateDecisions__Output,
  CurationTask__Output,
  EvaluationResult__Output,
  LabelMapping__Output,
  JobLifecycle__Output,
  JobProgress__Output,
  SampleCurated__Output,
  ShiftLifecycle__Output,
  TrainingMetric__Output,
} from '@select/contracts';

/** Fully qualified names of the event payload messages in protos/select/events/v1/events.proto. */
export const EVENT_TYPES = {
  SampleCurated: 'select.events.v1.SampleCurated',
  ShiftLifecycle: 'select.events.v1.ShiftLifecycle',
  JobLifecycle: 'select.events.v1.JobLifecycle',
  JobProgress: 'select.events.v1.JobProgress',
  TrainingMetric: 'select.events.v1.TrainingMetric',
  EvaluationResult: 'select.events.v1.EvaluationResult',
  CandidateDecision: 'select.events.v1.CandidateDecision',
  CurationTask: 'select.events.v1.CurationTask',
  LabelMapping: 'select.events.v1.LabelMapping',
  CandidateDecisions: 'select.events.v1.CandidateDecisions',
} as const;

/** The decoded payload shape of each event type, as a consumer's handler receives it. */
export interface EventPayloads {
  'select.events.v1.SampleCurated': SampleCurated__Output;
  'select.events.v1.ShiftLifecycle': ShiftLifecycle__Output;
  'select.events.v1.JobLifecycle': JobLifecycle__Output;
  'select.events.v1.JobProgress': JobProgress__Output;
  'select.events.v1.TrainingMetric': TrainingMetric__Output;
  'select.events.v1.EvaluationResult': EvaluationResult__Output;
  'select.events.v1.CandidateDecision': CandidateDecision__Output;
  'select.events.v1.CurationTask': CurationTask__Output;
  'select.events.v1.LabelMapping': LabelMapping__Output;
  'select.events.v1.CandidateDecisions': CandidateDecisions__Output;
}

/** One Kafka topic: its partition count, the payload field that is its key, and the messages it carries. */
export interface TopicSpec {
  name: string;
  partitions: number;
  /** The payload field (proto name) used as the Kafka key, so one entity's events stay in order on one partition. */
  key: string;
  /** Fully qualified message names that may appear in the event-type header of this topic. */
  messageTypes: string[];
  description: string;
}

/** The topic registry: one spec per logical topic. */
export interface TopicRegistry {
  samples: TopicSpec;
  shifts: TopicSpec;
  jobs: TopicSpec;
  training: TopicSpec;
  evaluations: TopicSpec;
  decisions: TopicSpec;
  curationTasks: TopicSpec;
}

/** Every topic of the system. Names end in the schema major version; a breaking change gets a new `.v2` topic. */
export const TOPICS: TopicRegistry = {
  samples: {
    name: 'select.samples.v1',
    partitions: 6,
    key: 'shift_id',
    messageTypes: [EVENT_TYPES.SampleCurated],
    description: 'One event per sample a curation strategy kept and wrote into a shift.',
  },
  shifts: {
    name: 'select.shifts.v1',
    partitions: 3,
    key: 'shift_id',
    messageTypes: [EVENT_TYPES.ShiftLifecycle],
    description: 'Lifecycle of a shift (a curated training set): created, shard written, completed, failed.',
  },
  jobs: {
    name: 'select.jobs.v1',
    partitions: 3,
    key: 'job_id',
    messageTypes: [EVENT_TYPES.JobLifecycle, EVENT_TYPES.JobProgress],
    description: 'State changes and progress of long-running jobs (curation, training, evaluation).',
  },
  training: {
    name: 'select.training.v1',
    partitions: 3,
    key: 'run_id',
    messageTypes: [EVENT_TYPES.TrainingMetric],
    description: 'Scalars of training runs (loss, lr, accuracy, throughput) per step and epoch.',
  },
  evaluations: {
    name: 'select.evaluations.v1',
    partitions: 3,
    key: 'eval_id',
    messageTypes: [EVENT_TYPES.EvaluationResult],
    description: 'Scores of evaluations of trained models and analyses of shifts.',
  },
  decisions: {
    name: 'select.curation.decisions.v1',
    partitions: 6,
    key: 'shift_id',
    messageTypes: [EVENT_TYPES.CandidateDecision, EVENT_TYPES.CandidateDecisions, EVENT_TYPES.LabelMapping],
    description: 'One event per candidate a curation step decided on (kept or dropped, step, reason, score); label mapping tables of schema-mapping builds.',
  },
  curationTasks: {
    name: 'select.curation.tasks.v1',
    partitions: 12,
    key: 'task_id',
    messageTypes: [EVENT_TYPES.CurationTask],
    description: 'Shard tasks of curation builds, consumed by the curator workers\' consumer group.',
  },
};

export type TopicKey = keyof TopicRegistry;

/** Every dead-letter topic is its topic's name plus this suffix, with one partition. */
export const DLQ_SUFFIX = '.dlq';

/** Partitions of every dead-letter topic: one, so the DLQ reads in the order failures happened. */
export const DLQ_PARTITIONS = 1;

/** Name of the dead-letter topic of a (possibly prefixed) topic name. */
export function dlqTopicName(topicName: string): string {
  return topicName + DLQ_SUFFIX;
}

/**
 * The registry with `prefix` prepended to every topic name, so tests and side-by-side deployments can use
 * isolated topics. The DLQ of a prefixed topic is prefixed too (`<prefix><name>.dlq`).
 */
export function resolveTopics(prefix = ''): TopicRegistry {
  const resolve = (spec: TopicSpec): TopicSpec => ({ ...spec, name: prefix + spec.name, messageTypes: [...spec.messageTypes] });
  return {
    samples: resolve(TOPICS.samples),
    shifts: resolve(TOPICS.shifts),
    jobs: resolve(TOPICS.jobs),
    training: resolve(TOPICS.training),
    evaluations: resolve(TOPICS.evaluations),
    decisions: resolve(TOPICS.decisions),
    curationTasks: resolve(TOPICS.curationTasks),
  };
}

/** True when `key` names a topic of the registry (guards keys that arrive from config or the CLI). */
export function isTopicKey(key: string): key is TopicKey {
  return Object.hasOwn(TOPICS, key);
}

/** The payload value of a topic's key field, read from the camelCase object a producer publishes. */
/** snake_case key field → the camelCase name payloads use; worked out once per field (publish asks per event). */
const camelFields = new Map<string, string>();

export function keyFromPayload(spec: TopicSpec, payload: object): string | null {
  let field = camelFields.get(spec.key);
  if (field === undefined) {
    field = spec.key.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
    camelFields.set(spec.key, field);
  }
  const value = (payload as Record<string, unknown>)[field] ?? (payload as Record<string, unknown>)[spec.key];
  if (typeof value === 'string' && value !== '') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  return null;
}
