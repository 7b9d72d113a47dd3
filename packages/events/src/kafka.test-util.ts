// Helpers for the integration tests: isolated topic prefixes, raw kafkajs access, cleanup.
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, Partitioners, type KafkaMessage } from 'kafkajs';
import { deleteTopicsWithPrefix as deleteTopics } from './delete-topics.js';
import { DEFAULT_BROKERS, brokersFromEnv } from './kafka-options.js';
import type { Logger } from './logger.js';

/** `KAFKA_BROKERS`, else the local broker (as @select/testing's testBrokers, which this package cannot import). */
export const BROKERS = brokersFromEnv() ?? DEFAULT_BROKERS;

/** A logger that keeps what it is given, so tests can assert on warnings without printing them. */
export function memoryLogger(): Logger & { lines: { level: string; msg: string | undefined; obj: object }[] } {
  const lines: { level: string; msg: string | undefined; obj: object }[] = [];
  const make = (): Logger => ({
    debug: (obj, msg) => lines.push({ level: 'debug', obj, msg }),
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => lines.push({ level: 'error', obj, msg }),
    child: () => make(),
  });
  return Object.assign(make(), { lines });
}

/** A fresh prefix like `t-3fa9c1-`; every topic a test creates starts with it. */
export function randomPrefix(): string {
  return `t-${randomBytes(4).toString('hex')}-`;
}

export function testKafka(): Kafka {
  return new Kafka({ clientId: 'events-test', brokers: BROKERS, logLevel: logLevel.NOTHING });
}

/** Deletes the topics a test created under `prefix`. */
export async function deleteTopicsWithPrefix(prefix: string): Promise<void> {
  await deleteTopics({ clientId: 'events-test-cleanup', brokers: BROKERS, logger: memoryLogger() }, prefix);
}

/** Produces messages as-is with a plain kafkajs producer (no envelope, no encoding). */
export async function produceRaw(topic: string, messages: { key?: string; value: Buffer | string | null; headers?: Record<string, string> }[]): Promise<void> {
  const producer = testKafka().producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
}

/** Reads a topic from the beginning with a throwaway group until `count` messages arrived (or the timeout). */
export async function readRaw(topic: string, count: number, timeoutMs = 15_000): Promise<(KafkaMessage & { partition: number })[]> {
  const consumer = testKafka().consumer({ groupId: `reader-${randomBytes(4).toString('hex')}`, maxWaitTimeInMs: 200 });
  const messages: (KafkaMessage & { partition: number })[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let done: () => void = () => undefined;
    const enough = new Promise<void>((resolve) => (done = resolve));
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        messages.push(Object.assign(message, { partition }));
        if (messages.length >= count) done();
      },
    });
    await Promise.race([enough, new Promise((resolve) => setTimeout(resolve, timeoutMs))]);
  } finally {
    await consumer.disconnect();
  }
  return messages;
}

/** Messages in a topic (sum over partitions of high watermark minus low). */
export async function topicSize(topic: string): Promise<number> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Offsets a group committed on a topic, by partition (-1: nothing committed). */
export async function committedOffsets(groupId: string, topic: string): Promise<Map<number, number>> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const [result] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map((result?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
  } finally {
    await admin.disconnect();
  }
}

/** Polls `condition` until it holds; throws with `what` after the timeout. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export function header(message: KafkaMessage, name: string): string | undefined {
  const value = message.headers?.[name];
  return Buffer.isBuffer(value) ? value.toString('utf8') : value === undefined ? undefined : String(value);
}
