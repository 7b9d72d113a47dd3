// kafkajs-grouping first: it must run before kafkajs loads.
import './kafkajs-grouping.js';
import { randomUUID } from 'node:crypto';
import { encodeMessage } from '@select/contracts';
import { Partitioners, type ICustomPartitioner, type Kafka, type Message, type Producer, type TopicMessages } from 'kafkajs';
import { encodedEnvelopeHeaders, envelopeHeaders, PROTOBUF_CONTENT_TYPE, SCHEMA_VERSION, type EventEnvelope } from './envelope.js';
import { ensureTopics } from './ensure-topics.js';
import { EventsError } from './errors.js';
import { addKafkaDefaults, createKafkaClient, type KafkaOptions, type ResolvedKafkaOptions } from './kafka-options.js';
import type { Logger } from './logger.js';
import { encodedHeadersSize, installFastProduceEncoding, type EncodedHeaders } from './produce-encoding.js';
import { isTopicKey, keyFromPayload, resolveTopics, type TopicKey, type TopicRegistry } from './topics.js';

/** Publishes events onto the registry's topics. */
export interface EventProducer {
  /** Connects to the brokers (and, unless `createTopics: false`, makes sure the registry's topics exist). */
  connect(): Promise<void>;
  /**
   * Encodes `payload` as `messageType` (the protobuf body), adds the envelope headers and queues the event
   * for the next batch. Resolves with the envelope once the broker acknowledged the batch (acks=all);
   * rejects with an EventsError when the payload does not fit the type or the batch could not be written.
   * The key defaults to the payload's value of the topic's key field (`TopicSpec.key`).
   */
  publish<T extends object>(
    topic: TopicKey,
    messageType: string,
    payload: T,
    opts?: { key?: string; id?: string },
  ): Promise<EventEnvelope>;
  /** Sends everything queued and waits for the acknowledgements. */
  flush(): Promise<void>;
  /** Flushes, then disconnects. Publishing afterwards rejects. */
  disconnect(): Promise<void>;
}

export interface EventProducerOptions extends KafkaOptions {
  /** Service name written into every event's `source` header. */
  source: string;
  /**
   * How long a publish waits for others to share its batch.
   * @default 5
   */
  lingerMs?: number;
  /**
   * Most events in one batch; a full batch is sent without waiting for the linger. Batches go one at a time
   * (idempotence needs one request in flight), so this bounds throughput at `maxBatch` per broker round trip.
   * @default 5000
   */
  maxBatch?: number;
  /**
   * Most bytes (keys, bodies and headers) in one batch, so that no partition's record batch reaches the
   * broker's `message.max.bytes` (1 MiB by default) even when every event has the same key. An event larger
   * than this goes alone.
   * @default 900000
   */
  maxBatchBytes?: number;
  /**
   * Create the registry's topics (and DLQs) on connect when they are missing.
   * @default true
   */
  createTopics?: boolean;
}

type ResolvedProducerOptions = ResolvedKafkaOptions &
  Required<Pick<EventProducerOptions, 'source' | 'lingerMs' | 'maxBatch' | 'maxBatchBytes' | 'createTopics'>>;

/** Fills the producer's defaults. */
export function addProducerDefaults(opts: EventProducerOptions): ResolvedProducerOptions {
  return {
    ...addKafkaDefaults(opts),
    source: opts.source,
    lingerMs: opts.lingerMs ?? 5,
    maxBatch: Math.max(1, opts.maxBatch ?? 5000),
    maxBatchBytes: Math.max(1, opts.maxBatchBytes ?? 900_000),
    createTopics: opts.createTopics ?? true,
  };
}

/**
 * An event as kafkajs' message. The fast Produce encoder copies its headers from `encodedHeaders` (shared by the
 * events of one type and millisecond) around the event id; kafkajs' own encoder, which takes only the requests the
 * fast one does not cover, reads `headers`, made from the envelope when asked.
 */
class EventMessage implements Message {
  readonly encodedHeaderValue: string;
  constructor(
    readonly key: string | null,
    readonly value: Buffer,
    private readonly envelope: EventEnvelope,
    readonly encodedHeaders: EncodedHeaders | undefined,
  ) {
    this.encodedHeaderValue = envelope.id;
  }

  get headers(): Record<string, string> {
    return envelopeHeaders(this.envelope);
  }

  /** Bytes of the headers in the record (name and value bytes only when they were not encoded). */
  headerBytes(): number {
    const encoded = this.encodedHeaders;
    if (encoded !== undefined) return encodedHeadersSize(encoded, this.encodedHeaderValue);
    let bytes = 0;
    const headers = this.headers;
    for (const name in headers) bytes += name.length + (headers[name]?.length ?? 0);
    return bytes;
  }
}

interface Queued {
  topic: string;
  message: EventMessage;
  /** Key, body and header bytes (strings counted as UTF-16 code units: close enough for ASCII ids). */
  bytes: number;
  /** What publish() resolves with. */
  envelope: EventEnvelope;
  resolve: (envelope: EventEnvelope) => void;
  reject: (error: unknown) => void;
}

/** Keys remembered per topic by memoizedKeyPartitioner before its memory starts over. */
const PARTITIONER_MEMORY = 10_000;

/**
 * kafkajs' DefaultPartitioner (murmur2 of the key, as the Java client), remembering the partition of each
 * string key for the topic's partition count: events of one shift or job share a key, and the partitioner
 * otherwise hashes the key (and filters the partition list) again for every event.
 */
const memoizedKeyPartitioner: ICustomPartitioner = () => {
  const partitioner = Partitioners.DefaultPartitioner();
  // per topic: the partition count the remembered partitions were computed for, and the partitions by key
  const memory = new Map<string, { partitions: number; known: Map<string, number> }>();
  return (args) => {
    const { topic, partitionMetadata, message } = args;
    if (typeof message.key !== 'string' || (message.partition !== undefined && message.partition !== null)) return partitioner(args);
    let entry = memory.get(topic);
    if (entry === undefined || entry.partitions !== partitionMetadata.length || entry.known.size >= PARTITIONER_MEMORY) {
      entry = { partitions: partitionMetadata.length, known: new Map() };
      memory.set(topic, entry);
    }
    const { known } = entry;
    let partition = known.get(message.key);
    if (partition === undefined) {
      partition = partitioner(args);
      known.set(message.key, partition);
    }
    return partition;
  };
};

type ProducerState = 'new' | 'connecting' | 'connected' | 'closing' | 'closed';

/** An idempotent (acks=all, one request in flight) producer that batches publishes. */
export function createEventProducer(opts: EventProducerOptions): EventProducer {
  return new BatchingEventProducer(addProducerDefaults(opts));
}

class BatchingEventProducer implements EventProducer {
  private readonly topics: TopicRegistry;
  private readonly log: Logger;
  private readonly kafka: Kafka;
  private readonly producer: Producer;
  private state: ProducerState = 'new';
  private queue: Queued[] = [];
  private queuedBytes = 0;
  private lingerTimer: NodeJS.Timeout | undefined;
  private draining: Promise<void> | undefined;

  constructor(private readonly opts: ResolvedProducerOptions) {
    this.topics = resolveTopics(opts.topicPrefix);
    this.log = opts.logger.child({ component: 'event-producer' });
    this.kafka = createKafkaClient(opts);
    this.producer = this.kafka.producer({
      // Idempotence gives each partition exactly-once appends across the client's own retries; kafkajs
      // requires at most one request in flight for it, which also keeps per-key order.
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      // The Java client's murmur2 partitioner, so a key lands on the same partition from any language.
      createPartitioner: memoizedKeyPartitioner,
    });
    installFastProduceEncoding();
  }

  async connect(): Promise<void> {
    if (this.state !== 'new') throw new EventsError('NOT_CONNECTED', `connect() called on a producer that is ${this.state}`);
    this.state = 'connecting';
    try {
      if (this.opts.createTopics) {
        await ensureTopics(this.opts, Object.values(this.topics));
      }
      await this.producer.connect();
      this.state = 'connected';
    } catch (error) {
      this.state = 'closed';
      await this.producer.disconnect().catch(() => undefined);
      throw error;
    }
  }

  publish<T extends object>(
    topic: TopicKey,
    messageType: string,
    payload: T,
    opts: { key?: string; id?: string } = {},
  ): Promise<EventEnvelope> {
    if (this.state !== 'connected') {
      return Promise.reject(new EventsError('NOT_CONNECTED', `cannot publish: producer is ${this.state === 'new' ? 'not connected' : this.state}`));
    }
    if (!isTopicKey(topic)) return Promise.reject(new EventsError('UNKNOWN_TOPIC', `"${String(topic)}" is not a topic of the registry`));
    const spec = this.topics[topic];
    if (!spec.messageTypes.includes(messageType)) {
      return Promise.reject(
        new EventsError('TYPE_NOT_ON_TOPIC', `${spec.name} carries ${spec.messageTypes.join(', ')}, not ${messageType}`),
      );
    }
    let body: Buffer;
    try {
      body = encodeMessage(messageType, payload);
    } catch (cause) {
      return Promise.reject(new EventsError('INVALID_PAYLOAD', `payload is not a valid ${messageType}: ${(cause as Error).message}`, { cause }));
    }
    const envelope: EventEnvelope = {
      id: opts.id ?? randomUUID(),
      type: messageType,
      schemaVersion: SCHEMA_VERSION,
      time: new Date(),
      source: this.opts.source,
      contentType: PROTOBUF_CONTENT_TYPE,
    };
    const key = opts.key ?? keyFromPayload(spec, payload);
    const message = new EventMessage(key, body, envelope, encodedEnvelopeHeaders(envelope));
    const bytes = body.length + (key?.length ?? 0) + message.headerBytes();
    return new Promise<EventEnvelope>((resolve, reject) => {
      this.queue.push({ topic: spec.name, message, bytes, envelope, resolve, reject });
      this.queuedBytes += bytes;
      this.schedule();
    });
  }

  async flush(): Promise<void> {
    while (this.queue.length > 0 || this.draining) await this.drain();
  }

  async disconnect(): Promise<void> {
    if (this.state === 'closed' || this.state === 'new') {
      this.state = 'closed';
      return;
    }
    this.state = 'closing';
    try {
      await this.flush();
    } finally {
      this.state = 'closed';
      await this.producer.disconnect();
    }
  }

  private schedule(): void {
    if (this.queue.length >= this.opts.maxBatch || this.queuedBytes >= this.opts.maxBatchBytes) {
      void this.drain();
    } else {
      this.lingerTimer ??= setTimeout(() => void this.drain(), this.opts.lingerMs);
    }
  }

  /** Starts the send loop unless it runs already; the loop takes whatever queued up while a batch was in flight. */
  private drain(): Promise<void> {
    clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    this.draining ??= this.sendQueued().finally(() => {
      this.draining = undefined;
    });
    return this.draining;
  }

  private async sendQueued(): Promise<void> {
    while (this.queue.length > 0) {
      // One batch at a time: with a second sendBatch in flight a failed first one could be retried after it,
      // putting events of one key out of order.
      await this.send(this.takeBatch());
    }
  }

  /** The oldest queued events, up to maxBatch of them and maxBatchBytes (at least one). */
  private takeBatch(): Queued[] {
    let count = 0;
    let bytes = 0;
    while (count < this.queue.length && count < this.opts.maxBatch) {
      const next = this.queue[count]!.bytes;
      if (count > 0 && bytes + next > this.opts.maxBatchBytes) break;
      bytes += next;
      count += 1;
    }
    this.queuedBytes -= bytes;
    return this.queue.splice(0, count);
  }

  private async send(batch: Queued[]): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    for (const q of batch) {
      const messages = byTopic.get(q.topic) ?? [];
      messages.push(q.message);
      byTopic.set(q.topic, messages);
    }
    const topicMessages: TopicMessages[] = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
    try {
      await this.producer.sendBatch({ acks: -1, topicMessages });
    } catch (cause) {
      this.log.error({ err: cause, events: batch.length, topics: [...byTopic.keys()] }, 'publishing a batch failed');
      const error = new EventsError('PUBLISH_FAILED', `broker did not accept a batch of ${batch.length} events: ${(cause as Error).message}`, { cause });
      for (const q of batch) q.reject(error);
      return;
    }
    for (const q of batch) q.resolve(q.envelope);
  }
}
