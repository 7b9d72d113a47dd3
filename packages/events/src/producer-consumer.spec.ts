import type { JobProgress, JobProgress__Output, SampleCurated, SampleCurated__Output } from '@select/contracts';
import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { createEventConsumer, type EventConsumer } from './consumer.js';
import type { ReceivedEvent } from './envelope.js';
import { deleteTopicsWithPrefix, header, memoryLogger, randomPrefix, readRaw, topicSize, waitFor } from './kafka.test-util.js';
import { createEventProducer, type EventProducer } from './producer.js';
import { EVENT_TYPES, resolveTopics } from './topics.js';

const require = createRequire(import.meta.url);
/** kafkajs' port of the Java client's murmur2 (Utils.murmur2), the reference for the partition of a key. */
const murmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (key: string) => number;

const prefix = randomPrefix();
const logger = memoryLogger();
const topics = resolveTopics(prefix);
const producers: EventProducer[] = [];
const consumers: EventConsumer[] = [];

function producer(source = 'curation'): EventProducer {
  const p = createEventProducer({ clientId: 'producer-test', source, topicPrefix: prefix, logger });
  producers.push(p);
  return p;
}

function consumer(topic: 'samples' | 'jobs', received: ReceivedEvent[], extra: { maxBatch?: number } = {}): EventConsumer {
  const c = createEventConsumer({
    clientId: 'consumer-test',
    groupId: `g-${randomPrefix()}`,
    topics: [topic],
    topicPrefix: prefix,
    logger,
    handleBatch: async (events) => {
      received.push(...events);
    },
    ...extra,
  });
  consumers.push(c);
  return c;
}

afterAll(async () => {
  await Promise.all(consumers.map((c) => c.stop()));
  await Promise.all(producers.map((p) => p.disconnect()));
  await deleteTopicsWithPrefix(prefix);
});

describe('producer and consumer', () => {
  it('deliver an event with its envelope and payload intact', async () => {
    const p = producer();
    await p.connect();
    const sample: SampleCurated = {
      sampleId: 'sample-1',
      shiftId: 'shift-a',
      strategy: 'laion-img2img',
      classIndex: 207,
      wnid: 'n02099601',
      sourceId: 'laion-000123',
      score: 0.8125,
      shard: '00003.tar',
      key: '000123',
      provenance: { strategy: 'laion-img2img', paramsHash: 'ab12', sourceId: 'ref-9', score: 0.5, modelIds: ['clip@1a2b'], prompt: '', seed: '1234567890123', extra: { k: 'v' } },
      width: 256,
      height: 192,
    };
    const before = Date.now();
    const envelope = await p.publish('samples', EVENT_TYPES.SampleCurated, sample);

    const received: ReceivedEvent[] = [];
    await consumer('samples', received).start();
    await waitFor(() => received.length === 1, 'the event');

    const [event] = received as ReceivedEvent<SampleCurated__Output>[];
    expect(event?.envelope).toEqual(envelope);
    expect(envelope).toMatchObject({ type: 'select.events.v1.SampleCurated', schemaVersion: 1, source: 'curation', contentType: 'application/x-protobuf' });
    expect(envelope.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(envelope.time.getTime()).toBeGreaterThanOrEqual(before);
    expect(event?.payload).toEqual(sample);
    expect(event).toMatchObject({ topic: topics.samples.name, key: 'shift-a', offset: '0' });

    // What a consumer in another language sees: plain UTF-8 string headers.
    const [raw] = await readRaw(topics.samples.name, 1);
    expect(raw && header(raw, 'event-id')).toBe(envelope.id);
    expect(raw && header(raw, 'event-time')).toBe(envelope.time.toISOString());
    expect(raw && header(raw, 'schema-version')).toBe('1');
    expect(raw?.key?.toString()).toBe('shift-a');
  });

  it('keep the events of one key in publish order, across batches and partitions', async () => {
    const p = producer();
    await p.connect();
    const jobs = ['job-a', 'job-b', 'job-c', 'job-d'];
    const published: Promise<unknown>[] = [];
    for (let done = 1; done <= 150; done += 1) {
      for (const jobId of jobs) {
        const progress: JobProgress = { jobId, kind: 'curate', done, total: 150, unit: 'images' };
        published.push(p.publish('jobs', EVENT_TYPES.JobProgress, progress));
      }
    }
    await Promise.all(published);

    const received: ReceivedEvent[] = [];
    await consumer('jobs', received, { maxBatch: 37 }).start();
    await waitFor(() => received.length === 600, 'all 600 events');

    for (const jobId of jobs) {
      const ofJob = (received as ReceivedEvent<JobProgress__Output>[]).filter((e) => e.payload.jobId === jobId);
      expect(ofJob.map((e) => Number(e.payload.done))).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
      expect(new Set(ofJob.map((e) => e.partition)).size).toBe(1);
      expect(ofJob.every((e) => e.key === jobId)).toBe(true);
    }
    expect(new Set(received.map((e) => e.envelope.id)).size).toBe(600);
  });

  it("put each key on the partition the Java client's murmur2 partitioner picks, non-ASCII keys and headers intact", async () => {
    const p = producer();
    await p.connect();
    const run = randomPrefix();
    const keys = Array.from({ length: 40 }, (_, i) => `${run}-clé-${i}-日本-😀`);
    const envelopes = await Promise.all(
      keys.flatMap((shiftId) => [1, 2, 3].map((n) => p.publish('samples', EVENT_TYPES.SampleCurated, { sampleId: `ü-${n}`, shiftId, strategy: 'x' }))),
    );
    const raw = (await readRaw(topics.samples.name, await topicSize(topics.samples.name))).filter((m) => m.key?.toString().startsWith(run));
    expect(raw).toHaveLength(120);
    const partitions = topics.samples.partitions;
    for (const key of keys) {
      const ofKey = raw.filter((m) => m.key?.toString() === key);
      expect(ofKey).toHaveLength(3);
      const expected = (murmur2(key) & 0x7fffffff) % partitions;
      expect(ofKey.map((m) => m.partition)).toEqual([expected, expected, expected]);
    }
    expect(new Set(raw.map((m) => header(m, 'event-id')))).toEqual(new Set(envelopes.map((e) => e.id)));
  });

  it('write every header byte of replayed ids and a non-ASCII source, ASCII or not, as another client reads them', async () => {
    const p = producer('curación-日本-😀');
    await p.connect();
    const run = randomPrefix();
    const ids = [`${run}-replayed`, `${run}-réplay-ü-日本`, `${run}-${'x'.repeat(200)}`, `${run}-😀`];
    const envelopes = await Promise.all(
      ids.map((id, n) => p.publish('samples', EVENT_TYPES.SampleCurated, { sampleId: `r-${n}`, shiftId: `${run}-replay`, strategy: 'x' }, { id })),
    );
    expect(envelopes.map((e) => e.id)).toEqual(ids);
    const raw = (await readRaw(topics.samples.name, await topicSize(topics.samples.name))).filter((m) => m.key?.toString() === `${run}-replay`);
    expect(raw.map((m) => header(m, 'event-id'))).toEqual(ids);
    for (const [n, m] of raw.entries()) {
      expect(header(m, 'source')).toBe('curación-日本-😀');
      expect(header(m, 'event-time')).toBe(envelopes[n]!.time.toISOString());
      expect(header(m, 'event-type')).toBe(EVENT_TYPES.SampleCurated);
      expect(Object.keys(m.headers ?? {})).toEqual(['event-id', 'event-type', 'schema-version', 'event-time', 'source', 'content-type']);
    }
  });

  it('write as an idempotent producer, many publishes to a record batch', async () => {
    const p = producer();
    await p.connect();
    const shiftId = `shift-${randomPrefix()}`;
    const published: Promise<unknown>[] = [];
    for (let i = 0; i < 200; i++) {
      const sample: SampleCurated = { sampleId: `s-${i}`, shiftId, strategy: 'x', classIndex: i % 10, wnid: 'n01440764' };
      published.push(p.publish('samples', EVENT_TYPES.SampleCurated, sample));
    }
    await Promise.all(published);

    // The record batch header as the broker stored it (kafkajs exposes it on each raw message): an idempotent
    // producer writes the id the broker assigned it (InitProducerId); a plain one writes -1.
    const raw = (await readRaw(topics.samples.name, await topicSize(topics.samples.name))).filter((m) => m.key?.toString() === shiftId);
    expect(raw).toHaveLength(200);
    const batches = raw.map((m) => (m as unknown as { batchContext: { producerId: string; firstOffset: string } }).batchContext);
    expect(new Set(batches.map((b) => b.producerId)).size).toBe(1);
    expect(Number(batches[0]?.producerId)).toBeGreaterThanOrEqual(0);
    // 200 publishes within the linger window share a few record batches instead of 200 produce requests.
    expect(new Set(batches.map((b) => b.firstOffset)).size).toBeLessThanOrEqual(10);
  });

  it('bound the work in flight: at most partitionsConcurrently handler calls at once, each of at most maxBatch events', async () => {
    const p = producer();
    await p.connect();
    const run = randomPrefix();
    const published: Promise<unknown>[] = [];
    for (let i = 0; i < 120; i++) {
      const sample: SampleCurated = { sampleId: `${run}${i}`, shiftId: `${run}shift-${i % 12}`, strategy: 'x', classIndex: 1 };
      published.push(p.publish('samples', EVENT_TYPES.SampleCurated, sample));
    }
    await Promise.all(published);

    let inFlight = 0;
    let maxInFlight = 0;
    const batchSizes: number[] = [];
    const mine: ReceivedEvent<SampleCurated__Output>[] = [];
    const c = createEventConsumer({
      clientId: 'consumer-test',
      groupId: `g-${randomPrefix()}`,
      topics: ['samples'],
      topicPrefix: prefix,
      logger,
      maxBatch: 10,
      partitionsConcurrently: 2,
      handleBatch: async (events) => {
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        batchSizes.push(events.length);
        await new Promise((resolve) => setTimeout(resolve, 40));
        mine.push(...(events as ReceivedEvent<SampleCurated__Output>[]).filter((e) => e.payload.sampleId.startsWith(run)));
        inFlight -= 1;
      },
    });
    consumers.push(c);
    await c.start();
    await waitFor(() => mine.length === 120, 'all 120 events');

    expect(new Set(mine.map((e) => e.partition)).size).toBeGreaterThanOrEqual(3); // work was there for more than 2 at once
    expect(maxInFlight).toBe(2);
    expect(Math.max(...batchSizes)).toBeLessThanOrEqual(10);
  });

  it('reject publishes that cannot be delivered as asked, without sending anything', async () => {
    const p = producer();
    await expect(p.publish('samples', EVENT_TYPES.SampleCurated, {})).rejects.toMatchObject({ code: 'NOT_CONNECTED' });
    await p.connect();
    await expect(p.publish('samples', EVENT_TYPES.JobProgress, { jobId: 'x' })).rejects.toMatchObject({ code: 'TYPE_NOT_ON_TOPIC' });
    await expect(p.publish('samples', EVENT_TYPES.SampleCurated, { provenance: 'not a message' })).rejects.toMatchObject({ code: 'INVALID_PAYLOAD' });
    await p.disconnect();
    await expect(p.publish('samples', EVENT_TYPES.SampleCurated, {})).rejects.toMatchObject({ code: 'NOT_CONNECTED' });
  });
});
