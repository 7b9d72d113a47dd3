import { decodeMessage } from '@select/contracts';
import type { KafkaMessage } from 'kafkajs';
import { parseEnvelope, type ReceivedEvent } from './envelope.js';
import { EventsError } from './errors.js';
import type { TopicSpec } from './topics.js';

/**
 * Decodes a received message into an event, or throws an EventsError (BAD_ENVELOPE, TYPE_NOT_ON_TOPIC,
 * BAD_BODY). Such a message can never succeed, so the consumer dead-letters it without retrying.
 */
export function decodeEvent(
  spec: TopicSpec,
  partition: number,
  message: KafkaMessage,
  decodeBody: (type: string, body: Buffer) => unknown = decodeMessage,
): ReceivedEvent {
  const envelope = parseEnvelope(message.headers, message.timestamp);
  if (!spec.messageTypes.includes(envelope.type)) {
    throw new EventsError('TYPE_NOT_ON_TOPIC', `event-type "${envelope.type}" is not carried by ${spec.name} (${spec.messageTypes.join(', ')})`);
  }
  if (!message.value) throw new EventsError('BAD_BODY', `${envelope.type} event ${envelope.id} has no body`);
  let payload: unknown;
  try {
    payload = decodeBody(envelope.type, message.value);
  } catch (cause) {
    throw new EventsError('BAD_BODY', `body of event ${envelope.id} is not a valid ${envelope.type}`, { cause });
  }
  return {
    envelope,
    payload,
    topic: spec.name,
    partition,
    offset: message.offset,
    key: message.key ? message.key.toString('utf8') : null,
  };
}
