import type { SampleCurated, SampleCurated__Output } from '@select/contracts';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createEventConsumer, type EventConsumer, type EventConsumerOptions } from './consumer.js';
import type { ReceivedEvent } from './envelope.js';
import { ensureTopics } from './ensure-topics.js';
import { RetryableError } from './errors.js';
import { committedOffsets, deleteTopicsWithPrefix, header, memoryLogger, produceRaw, readRaw, topicSize, waitFor } from './kafka.test-util.js';
import { createEventProducer, type EventProducer } from './producer.js';
import { EVENT_TYPES, dlqTopicName, resolveTopics, type TopicSpec } from './topics.js';

// One random run id; each test gets its own prefix under it, so its topics start empty.
const run = `t-${randomBytes(4).toString('hex')}-`;
let testNo = 0;
const logger = memoryLogger();
const open: { stop?: () => Promise<void>; disconnect?: () => Promise<void> }[] = [];

afterAll(async () => {
  for (const o of open) await (o.stop ?? o.disconnect)?.call(o);
  await deleteTopicsWithPrefix(run);
});

interface Setup {
  prefix: string;
  samples: TopicSpec;
  producer: EventProducer;
  consumer: (handleBatch: EventConsumerOptions['handleBatch'], groupId?: string, more?: Partial<EventConsumerOptions>) => EventConsumer;
  groupId: string;
}

/** Fresh topics, a connected producer, and a factory of consumers on select.samples.v1 with fast retries. */
async function setup(): Promise<Setup> {
  testNo += 1;
  const prefix = `${run}${testNo}-`;
  const samples = resolveTopics(prefix).samples;
  await ensureTopics({ clientId: 'failures-test', topicPrefix: prefix, logger }, [samples]);
  const producer = createEventProducer({ clientId: 'failures-test', source: 'test', topicPrefix: prefix, logger, createTopics: false });
  await producer.connect();
  open.push(producer);
  const groupId = `g-${prefix}`;
  const consumer = (handleBatch: EventConsumerOptions['handleBatch'], group = groupId, more: Partial<EventConsumerOptions> = {}): EventConsumer => {
    const c = createEventConsumer({
      clientId: 'failures-test',
      groupId: group,
      topics: ['samples'],
      topicPrefix: prefix,
      logger,
      handleBatch,
      retryBackoff: { initialMs: 20, maxMs: 100 },
      createTopics: false,
      ...more,
    });
    open.push(c);
    return c;
  };
  return { prefix, samples, producer, consumer, groupId };
}

function sample(sampleId: string): SampleCurated {
  return { sampleId, shiftId: 'shift-1', strategy: 'test', classIndex: 1 };
}

function ids(events: ReceivedEvent[]): string[] {
  return (events as ReceivedEvent<SampleCurated__Output>[]).map((e) => e.payload.sampleId);
}

/** Sum of committed offsets over the topic's partitions, i.e. how many messages the group is past. */
async function committedCount(groupId: string, topic: string): Promise<number> {
  return [...(await committedOffsets(groupId, topic)).values()].reduce((sum, o) => sum + Math.max(o, 0), 0);
}

/** Waits until the group committed `count` messages; the commit follows the handler by a round trip. */
async function expectCommitted(groupId: string, topic: string, count: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  let committed = await committedCount(groupId, topic);
  while (committed !== count && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    committed = await committedCount(groupId, topic);
  }
  expect(committed).toBe(count);
}

describe('consumer failure handling', () => {
  it('dead-letters undecodable messages with the error and the original body, and goes on', async () => {
    const { samples, producer, consumer, groupId } = await setup();
    // All on one key, so one partition holds them in this order.
    await produceRaw(samples.name, [
      { key: 'shift-1', value: 'raw garbage, no envelope' },
      { key: 'shift-1', value: Buffer.from([0x0a, 0xff]), headers: { 'event-id': 'e-bad-body', 'event-type': EVENT_TYPES.SampleCurated } },
      { key: 'shift-1', value: Buffer.from([]), headers: { 'event-id': 'e-wrong-type', 'event-type': EVENT_TYPES.JobProgress } },
    ]);
    await producer.publish('samples', EVENT_TYPES.SampleCurated, sample('good'), { key: 'shift-1' });

    const received: ReceivedEvent[] = [];
    await consumer(async (events) => void received.push(...events)).start();
    await waitFor(() => received.length === 1, 'the good event');
    expect(ids(received)).toEqual(['good']);

    const dead = await readRaw(dlqTopicName(samples.name), 3);
    expect(dead.map((m) => m.value?.toString('latin1'))).toEqual([
      'raw garbage, no envelope',
      Buffer.from([0x0a, 0xff]).toString('latin1'),
      '',
    ]);
    expect(dead.map((m) => header(m, 'error-message'))).toEqual([
      expect.stringContaining('missing event-id'),
      expect.stringContaining('not a valid select.events.v1.SampleCurated'),
      expect.stringContaining('not carried by'),
    ]);
    const [first, second] = dead;
    expect(first && header(first, 'dead-letter-reason')).toBe('undecodable');
    expect(first && header(first, 'original-topic')).toBe(samples.name);
    expect(first && header(first, 'original-offset')).toBe('0');
    expect(first && header(first, 'consumer-group')).toBe(groupId);
    expect(second && header(second, 'event-id')).toBe('e-bad-body');
    expect(second?.key?.toString()).toBe('shift-1');
    await expectCommitted(groupId, samples.name, 4);
  });

  it('hands what decodeBody reads as the payload, and dead-letters an event whose body it rejects', async () => {
    const { samples, producer, consumer, groupId } = await setup();
    for (const id of ['one', 'reject-me', 'three']) await producer.publish('samples', EVENT_TYPES.SampleCurated, sample(id), { key: 'shift-1' });
    const seen: string[] = [];
    const decodeBody = (type: string, body: Buffer): unknown => {
      seen.push(type);
      if (body.includes('reject-me')) throw new Error('this reader refuses it');
      return { bytes: body.length, type };
    };
    const received: ReceivedEvent[] = [];
    await consumer(async (events) => void received.push(...events), groupId, { decodeBody }).start();
    await waitFor(() => received.length === 2, 'two events');
    expect(received.map((e) => e.payload)).toEqual([
      { bytes: expect.any(Number), type: EVENT_TYPES.SampleCurated },
      { bytes: expect.any(Number), type: EVENT_TYPES.SampleCurated },
    ]);
    expect(seen).toEqual([EVENT_TYPES.SampleCurated, EVENT_TYPES.SampleCurated, EVENT_TYPES.SampleCurated]);
    const [dead] = await readRaw(dlqTopicName(samples.name), 1);
    expect(dead && header(dead, 'dead-letter-reason')).toBe('undecodable');
    expect(dead && header(dead, 'error-message')).toContain(`is not a valid ${EVENT_TYPES.SampleCurated}`);
    expect(dead?.value?.includes('reject-me')).toBe(true);
    await expectCommitted(groupId, samples.name, 3);
  });

  it('dead-letters an event whose handler keeps failing after maxRetries, and delivers its neighbours', async () => {
    const { samples, producer, consumer, groupId } = await setup();
    await Promise.all(['a', 'poison', 'b'].map((id) => producer.publish('samples', EVENT_TYPES.SampleCurated, sample(id))));

    const processed: string[] = [];
    let poisonAloneAttempts = 0;
    await consumer(async (events) => {
      const batch = ids(events);
      if (batch.includes('poison')) {
        if (batch.length === 1) poisonAloneAttempts += 1;
        throw new Error('boom: cannot store poison');
      }
      processed.push(...batch);
    }).start();

    await waitFor(() => processed.length === 2, 'the two good events');
    const [dead] = await readRaw(dlqTopicName(samples.name), 1);
    expect(processed).toEqual(['a', 'b']);
    expect(poisonAloneAttempts).toBe(4); // the first try and maxRetries (3) retries
    expect(dead && header(dead, 'error-message')).toBe('Error: boom: cannot store poison');
    expect(dead && header(dead, 'error-stack')).toContain('consumer-failures.spec.ts');
    expect(dead && header(dead, 'dead-letter-reason')).toBe('handler-failed');
    expect(dead && header(dead, 'original-offset')).toBe('1');
    expect(dead && header(dead, 'event-type')).toBe(EVENT_TYPES.SampleCurated);
    await expectCommitted(groupId, samples.name, 3);
  });

  it('retries a RetryableError until the handler succeeds, processing the event once and never dead-lettering it', async () => {
    const { samples, producer, consumer, groupId } = await setup();
    await producer.publish('samples', EVENT_TYPES.SampleCurated, sample('flaky'));

    let attempts = 0;
    const processed: string[] = [];
    const c = consumer(async (events) => {
      attempts += 1;
      if (attempts <= 2) throw new RetryableError('clickhouse is down');
      processed.push(...ids(events));
    });
    await c.start();
    await waitFor(() => processed.length === 1, 'the event');
    await c.stop();

    expect(attempts).toBe(3);
    expect(processed).toEqual(['flaky']);
    expect(await topicSize(dlqTopicName(samples.name))).toBe(0);
    expect(await committedCount(groupId, samples.name)).toBe(1);
  });

  it('commits nothing before the handler succeeded: after a stop mid-retry, the next member gets the event again', async () => {
    const { samples, producer, consumer, groupId } = await setup();
    await producer.publish('samples', EVENT_TYPES.SampleCurated, sample('unlucky'));

    let attempts = 0;
    const failing = consumer(async () => {
      attempts += 1;
      throw new RetryableError('still down');
    });
    await failing.start();
    await waitFor(() => attempts >= 2, 'two failed attempts');
    const stopStarted = Date.now();
    await failing.stop();
    expect(Date.now() - stopStarted).toBeLessThan(5_000);
    expect(await committedCount(groupId, samples.name)).toBe(0);

    const received: ReceivedEvent[] = [];
    await consumer(async (events) => void received.push(...events)).start();
    await waitFor(() => received.length === 1, 'the event after restart');
    expect(ids(received)).toEqual(['unlucky']);
  });

  it('stop() lets the handler call in flight finish and commits it, so a restart does not see it again', async () => {
    const { samples, producer, consumer, groupId } = await setup();
    await producer.publish('samples', EVENT_TYPES.SampleCurated, sample('slow'));

    let entered = false;
    let finished = false;
    const c = consumer(async () => {
      entered = true;
      await new Promise((resolve) => setTimeout(resolve, 500));
      finished = true;
    });
    await c.start();
    await waitFor(() => entered, 'the handler to start');
    await c.stop();
    expect(finished).toBe(true);
    expect(await committedCount(groupId, samples.name)).toBe(1);
  });

  it('stop() interrupts a long retry backoff at once', async () => {
    const { prefix, producer } = await setup();
    await producer.publish('samples', EVENT_TYPES.SampleCurated, sample('x'));
    let attempts = 0;
    const c = createEventConsumer({
      clientId: 'failures-test',
      groupId: `g-${randomBytes(4).toString('hex')}`,
      topics: ['samples'],
      topicPrefix: prefix,
      logger,
      createTopics: false,
      retryBackoff: { initialMs: 60_000, maxMs: 60_000 },
      handleBatch: async () => {
        attempts += 1;
        throw new RetryableError('down for a while');
      },
    });
    open.push(c);
    await c.start();
    await waitFor(() => attempts === 1, 'the first attempt');
    const stopStarted = Date.now();
    await c.stop();
    expect(Date.now() - stopStarted).toBeLessThan(3_000);
    expect(attempts).toBe(1);
  });
});
