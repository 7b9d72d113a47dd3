// pipelineDepth > 1 against the real broker: a partition's next events reach the handler while its previous
// call is still in flight, and offsets are committed in order, never past a call that has not finished.
import type { SampleCurated, SampleCurated__Output } from '@select/contracts';
import { afterAll, describe, expect, it } from 'vitest';
import { createEventConsumer, type EventConsumer } from './consumer.js';
import type { ReceivedEvent } from './envelope.js';
import { committedOffsets, deleteTopicsWithPrefix, memoryLogger, randomPrefix, waitFor } from './kafka.test-util.js';
import { createEventProducer, type EventProducer } from './producer.js';
import { EVENT_TYPES, resolveTopics } from './topics.js';

const prefix = randomPrefix();
const logger = memoryLogger();
const topic = resolveTopics(prefix).samples.name;
const consumers: EventConsumer[] = [];
let producer: EventProducer | undefined;

afterAll(async () => {
  await Promise.all(consumers.map((c) => c.stop()));
  await producer?.disconnect();
  await deleteTopicsWithPrefix(prefix);
});

/** Publishes `count` samples of one shift: one key, so one partition. */
async function publishOneShift(count: number, run: string): Promise<void> {
  if (producer === undefined) {
    producer = createEventProducer({ clientId: 'pipeline-test', source: 'curation', topicPrefix: prefix, logger });
    await producer.connect();
  }
  const p = producer;
  await Promise.all(
    Array.from({ length: count }, (_, i) => {
      const sample: SampleCurated = { sampleId: `${run}${i}`, shiftId: `${run}shift`, strategy: 'x', classIndex: i };
      return p.publish('samples', EVENT_TYPES.SampleCurated, sample);
    }),
  );
}

/** A promise held until `release()` is called. */
function gate(): { held: Promise<void>; release: () => void } {
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { held, release };
}

/** A consumer of the samples topic in a new group: batches of 10, pipelineDepth 2. */
function pipelinedConsumer(groupId: string, handleBatch: (events: ReceivedEvent<SampleCurated__Output>[]) => Promise<void>): EventConsumer {
  const c = createEventConsumer({
    clientId: 'pipeline-test',
    groupId,
    topics: ['samples'],
    topicPrefix: prefix,
    logger,
    maxBatch: 10,
    pipelineDepth: 2,
    handleBatch: (events) => handleBatch(events as ReceivedEvent<SampleCurated__Output>[]),
  });
  consumers.push(c);
  return c;
}

describe('consumer with pipelineDepth 2', () => {
  it('hands a partition its next events while a call is in flight, and commits only behind every finished call', async () => {
    const run = randomPrefix();
    await publishOneShift(60, run);
    const groupId = `g-${randomPrefix()}`;
    const first = gate();
    let calls = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    let finishedWhileFirstHeld = 0;
    let firstDone = false;
    const received: ReceivedEvent<SampleCurated__Output>[] = [];
    const c = pipelinedConsumer(groupId, async (events) => {
      const call = ++calls;
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      if (call === 1) await first.held;
      else await new Promise((resolve) => setTimeout(resolve, 10));
      received.push(...events);
      inFlight -= 1;
      if (call === 1) firstDone = true;
      else if (!firstDone) finishedWhileFirstHeld += 1;
    });
    await c.start();

    try {
      // Later calls start and finish while the first is held, never more than 2 at once; nothing may be
      // committed while the first (the oldest events) has not finished.
      await waitFor(() => finishedWhileFirstHeld >= 5, 'the five later calls to finish while the first is held');
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(maxInFlight).toBe(2);
      expect([...(await committedOffsets(groupId, topic)).values()].every((offset) => offset === -1)).toBe(true);
    } finally {
      first.release();
    }
    await waitFor(() => received.length === 60, 'all 60 events');
    const partition = received[0]!.partition;
    let committed = -1;
    for (let i = 0; i < 100 && committed !== 60; i++) {
      committed = (await committedOffsets(groupId, topic)).get(partition) ?? -1;
      if (committed !== 60) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(committed).toBe(60);
    expect(maxInFlight).toBe(2);
    // Every event once, in offset order within each call.
    expect(received.map((e) => e.payload.classIndex).sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, i) => i));
    expect(new Set(received.map((e) => e.envelope.id)).size).toBe(60);
  });

  it('stop() lets the calls in flight finish and commits exactly what they handled', async () => {
    const run = randomPrefix();
    await publishOneShift(40, run);
    const groupId = `g-${randomPrefix()}`;
    const first = gate();
    let calls = 0;
    const handled: ReceivedEvent<SampleCurated__Output>[] = [];
    const c = pipelinedConsumer(groupId, async (events) => {
      calls += 1;
      if (calls === 1) await first.held;
      handled.push(...events);
    });
    await c.start();
    await waitFor(() => calls >= 2, 'a second call while the first is held');
    const stopped = c.stop();
    await new Promise((resolve) => setTimeout(resolve, 300));
    first.release();
    await stopped;
    // Every call that started before stop() finished and was committed, in order, with nothing past them
    // (this run's shift may share its partition with the first test's: all its events are counted).
    expect(handled.length).toBeGreaterThanOrEqual(20);
    const committed = await committedOffsets(groupId, topic);
    for (const partition of new Set(handled.map((e) => e.partition))) {
      const mine = handled.filter((e) => e.partition === partition).map((e) => Number(e.offset));
      expect(committed.get(partition)).toBe(Math.max(...mine) + 1);
      expect(mine.sort((a, b) => a - b)).toEqual(Array.from({ length: mine.length }, (_, i) => i)); // from offset 0, no gap
    }
  });
});
