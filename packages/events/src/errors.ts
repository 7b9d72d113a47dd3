/**
 * Why an events call failed. Callers branch on the code; every error keeps its underlying `cause`.
 */
export type EventsErrorCode =
  /** A topic key that is not in the registry. */
  | 'UNKNOWN_TOPIC'
  /** The message type is not one of the types the topic carries (see `TopicSpec.messageTypes`). */
  | 'TYPE_NOT_ON_TOPIC'
  /** The payload cannot be encoded as the message type (wrong field type, unknown message). */
  | 'INVALID_PAYLOAD'
  /** `publish()` before `connect()`, or after `disconnect()` began. */
  | 'NOT_CONNECTED'
  /** The broker did not acknowledge the batch the event was in, after the client's own retries. */
  | 'PUBLISH_FAILED'
  /** A received message lacks a required envelope header or has one that cannot be parsed. */
  | 'BAD_ENVELOPE'
  /** A received message's body is missing or is not a valid protobuf of its event-type. */
  | 'BAD_BODY'
  /** Topics could not be created or did not get partition leaders in time. */
  | 'TOPIC_SETUP_FAILED'
  /** No broker answered (wrong `brokers`, or Kafka is not running). */
  | 'BROKER_UNAVAILABLE'
  /** `start()` called twice, or after `stop()`. */
  | 'CONSUMER_STATE'
  /** An argument that would do harm or cannot work (an empty prefix to `deleteTopicsWithPrefix`). */
  | 'INVALID_ARGUMENT';

/** The one error type that @select/events throws; `RetryableError` is the one handlers throw. */
export class EventsError extends Error {
  readonly code: EventsErrorCode;

  constructor(code: EventsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EventsError';
    this.code = code;
  }
}

// A brand instead of `instanceof` alone: a service may load two copies of this package (dist and src in
// tests), and a RetryableError thrown against one copy must still be recognised by the consumer of the other.
const RETRYABLE_BRAND = Symbol.for('@select/events.RetryableError');

/**
 * Thrown by a consumer's handler when the failure is transient (ClickHouse down, a dependency restarting).
 * The batch is retried with backoff for as long as it takes and never goes to the dead-letter topic.
 * Any error with a `retryable: true` property is treated the same way.
 */
export class RetryableError extends Error {
  readonly retryable = true;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RetryableError';
    Object.defineProperty(this, RETRYABLE_BRAND, { value: true });
  }
}

/** True for a `RetryableError` (from any copy of this package) or any error flagged `retryable: true`. */
export function isRetryable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  return RETRYABLE_BRAND in error || (error as { retryable?: unknown }).retryable === true;
}
