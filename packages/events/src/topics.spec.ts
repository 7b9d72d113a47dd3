import { decodeMessage } from '@select/contracts';
import { describe, expect, it } from 'vitest';
import { EVENT_TYPES, TOPICS, dlqTopicName, keyFromPayload, resolveTopics } from './topics.js';

describe('topic registry', () => {
  it('prefixes every topic name and leaves the shared registry untouched', () => {
    const topics = resolveTopics('t-abc-');
    expect(Object.values(topics).map((t) => t.name)).toEqual(Object.values(TOPICS).map((t) => `t-abc-${t.name}`));
    expect(dlqTopicName(topics.samples.name)).toBe('t-abc-select.samples.v1.dlq');
    expect(TOPICS.samples.name).toBe('select.samples.v1');
  });

  it('names only message types that exist, and each has the field the topic is keyed by', () => {
    for (const spec of Object.values(TOPICS)) {
      for (const type of spec.messageTypes) {
        const empty = decodeMessage<Record<string, unknown>>(type, new Uint8Array());
        const camel = spec.key.replace(/_([a-z])/g, (_m: string, c: string) => c.toUpperCase());
        expect(empty, `${type} on ${spec.name}`).toHaveProperty(camel);
      }
    }
    expect(Object.values(EVENT_TYPES).sort()).toEqual(Object.values(TOPICS).flatMap((t) => t.messageTypes).sort());
  });

  it('takes the key from the payload field the topic is keyed by', () => {
    expect(keyFromPayload(TOPICS.samples, { shiftId: 'shift-1', sampleId: 's' })).toBe('shift-1');
    expect(keyFromPayload(TOPICS.jobs, { kind: 'train' })).toBeNull();
  });
});
