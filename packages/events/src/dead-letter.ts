import type { IHeaders, KafkaMessage } from 'kafkajs';

/** Headers a dead-lettered message carries on top of its original headers (envelope included). */
export const DLQ_HEADERS = {
  errorMessage: 'error-message',
  errorStack: 'error-stack',
  /** `undecodable` (bad envelope or body: never retried) or `handler-failed` (failed maxRetries + 1 times). */
  reason: 'dead-letter-reason',
  /** ISO-8601 UTC time the message was dead-lettered. */
  time: 'dead-letter-time',
  /** Consumer group that gave up on the message; several groups may read one topic. */
  consumerGroup: 'consumer-group',
  originalTopic: 'original-topic',
  originalPartition: 'original-partition',
  originalOffset: 'original-offset',
  /** Broker timestamp of the original message, epoch milliseconds. */
  originalTimestamp: 'original-timestamp',
} as const;

export type DeadLetterReason = 'undecodable' | 'handler-failed';

/** Stacks can be long; Kafka has a 1 MB default message limit and consumers only need the top frames. */
const MAX_STACK_CHARS = 8_000;

export interface DeadLetterOrigin {
  topic: string;
  partition: number;
  groupId: string;
}

/** Headers of the dead-letter copy: the original headers, then why and where it failed. */
export function deadLetterHeaders(message: KafkaMessage, origin: DeadLetterOrigin, error: unknown, reason: DeadLetterReason): IHeaders {
  const err = error instanceof Error ? error : new Error(String(error));
  const message_ = err.cause instanceof Error ? `${err.message} (cause: ${err.cause.message})` : err.message;
  return {
    ...message.headers,
    [DLQ_HEADERS.errorMessage]: `${err.name}: ${message_}`,
    [DLQ_HEADERS.errorStack]: (err.stack ?? '').slice(0, MAX_STACK_CHARS),
    [DLQ_HEADERS.reason]: reason,
    [DLQ_HEADERS.time]: new Date().toISOString(),
    [DLQ_HEADERS.consumerGroup]: origin.groupId,
    [DLQ_HEADERS.originalTopic]: origin.topic,
    [DLQ_HEADERS.originalPartition]: String(origin.partition),
    [DLQ_HEADERS.originalOffset]: message.offset,
    [DLQ_HEADERS.originalTimestamp]: message.timestamp,
  };
}
