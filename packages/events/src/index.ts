// Public entry of @select/events: Kafka topic registry, event envelope, idempotent batching producer,
// at-least-once consumer with dead-letter topics.
// First, before any module that loads kafkajs: see kafkajs-grouping.ts and kafkajs-record-decoder.ts.
import './kafkajs-grouping.js';
import './kafkajs-record-decoder.js';
export {
  DLQ_PARTITIONS,
  DLQ_SUFFIX,
  EVENT_TYPES,
  TOPICS,
  dlqTopicName,
  isTopicKey,
  resolveTopics,
  type EventPayloads,
  type TopicKey,
  type TopicRegistry,
  type TopicSpec,
} from './topics.js';
export {
  ENVELOPE_HEADERS,
  PROTOBUF_CONTENT_TYPE,
  SCHEMA_VERSION,
  parseEnvelope,
  type EventEnvelope,
  type ReceivedEvent,
} from './envelope.js';
export { DLQ_HEADERS, type DeadLetterReason } from './dead-letter.js';
export { EventsError, RetryableError, isRetryable, type EventsErrorCode } from './errors.js';
export { addKafkaDefaults, type KafkaOptions, type ResolvedKafkaOptions } from './kafka-options.js';
export type { Logger } from './logger.js';
export { ensureTopics } from './ensure-topics.js';
export { describeTopics, type TopicState } from './describe-topics.js';
export { deleteTopicsWithPrefix } from './delete-topics.js';
export { countGroupMembers, readTopicOffsets, type PartitionOffsets } from './topic-offsets.js';
export { createEventProducer, type EventProducer, type EventProducerOptions } from './producer.js';
export { createEventConsumer, type EventConsumer, type EventConsumerOptions } from './consumer.js';
