// The fast Produce encoder writes exactly the bytes kafkajs 2.2.4 writes, for every shape of message it
// takes, and hands every other request back to kafkajs. The broker check (CRC and record layout accepted,
// read back intact) is in producer-consumer.spec.ts, whose producers all go through it.
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { encodedEnvelopeHeaders, envelopeHeaders, type EventEnvelope } from './envelope.js';
import { crc32c, crc32cJs, encodeHeadersAround, encodeProduceRequest, installFastProduceEncoding, nativeCrc32c, type ProduceRequestArgs } from './produce-encoding.js';

const require = createRequire(import.meta.url);
const kafkajsCrc32c = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as (buffer: Buffer) => number;
const kafkajsProduceV3 = require('kafkajs/src/protocol/requests/produce/v3/request.js') as (args: ProduceRequestArgs) => {
  encode(): Promise<{ buffer: Buffer }>;
};
const Long = require('kafkajs/src/utils/long.js') as { fromValue(value: unknown): unknown; fromNumber(value: number): unknown };

const NOW = 1_765_000_000_123;

async function kafkajsBytes(args: ProduceRequestArgs): Promise<Buffer> {
  vi.spyOn(Date, 'now').mockReturnValue(NOW);
  try {
    return (await kafkajsProduceV3(args).encode()).buffer;
  } finally {
    vi.restoreAllMocks();
  }
}

/** A deterministic pseudo-random source, so a failure names a reproducible case. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 0x1_0000_0000;
  };
}

const PIECES = ['a', 'shift-0042', 'ü', '日本', '😀', '\ud800', '\udc00', ' ', '-', 'x'.repeat(70), 'é'.repeat(40)];

function randomString(next: () => number, maxPieces: number): string {
  let out = '';
  const pieces = Math.floor(next() * (maxPieces + 1));
  for (let i = 0; i < pieces; i++) out += PIECES[Math.floor(next() * PIECES.length)]!;
  return out;
}

function randomBytes(next: () => number, max: number): Buffer {
  return Buffer.from(Array.from({ length: Math.floor(next() * max) }, () => Math.floor(next() * 256)));
}

function randomValue(next: () => number, nullable = true): Buffer | string | null {
  const kind = next();
  if (kind < 0.1 && nullable) return null;
  if (kind < 0.5) return randomString(next, 6);
  return randomBytes(next, kind < 0.9 ? 300 : 3000);
}

function randomArgs(seed: number): ProduceRequestArgs {
  const next = rng(seed);
  const topics = 1 + Math.floor(next() * 3);
  return {
    acks: next() < 0.5 ? -1 : 1,
    timeout: 30_000,
    transactionalId: next() < 0.7 ? null : `tx-${randomString(next, 3)}`,
    producerId: next() < 0.2 ? undefined : next() < 0.5 ? Long.fromNumber(Math.floor(next() * 1e6)) : Long.fromValue(`${Math.floor(next() * 1e15)}`),
    producerEpoch: Math.floor(next() * 5),
    topicData: Array.from({ length: topics }, (_, t) => ({
      topic: `select.samples.v1-${t}-${randomString(next, 2)}`,
      partitions: Array.from({ length: 1 + Math.floor(next() * 4) }, (_, p) => ({
        partition: p * 2 + t,
        firstSequence: next() < 0.3 ? undefined : Math.floor(next() * 100_000),
        messages: Array.from({ length: 1 + Math.floor(next() * (next() < 0.1 ? 300 : 20)) }, () => {
          // kafkajs cannot encode a null header value (Buffer.byteLength(null) throws), so none here.
          const headers: Record<string, Buffer | string | null> = {};
          const count = Math.floor(next() * 7);
          for (let h = 0; h < count; h++) headers[`h${h}-${randomString(next, 2)}`] = randomValue(next, false);
          return {
            key: next() < 0.2 ? null : next() < 0.8 ? randomString(next, 4) : randomBytes(next, 20),
            value: randomValue(next),
            ...(next() < 0.8 ? { headers } : {}),
          };
        }),
      })),
    })),
  };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('crc32c', () => {
  it('equals kafkajs crc32C for lengths 0 to 600 at every alignment, in JS and native', () => {
    const next = rng(7);
    for (let length = 0; length <= 600; length += 1) {
      const buffer = Buffer.alloc(length + 3);
      for (let i = 0; i < buffer.length; i++) buffer[i] = Math.floor(next() * 256);
      const start = length % 4;
      const slice = buffer.subarray(start, start + length);
      const expected = kafkajsCrc32c(Buffer.from(slice));
      expect(crc32cJs(buffer, start, start + length)).toBe(expected);
      expect(crc32c(buffer, start, start + length)).toBe(expected);
    }
  });

  it('uses the native CRC on linux x64 (its prebuilt binary installed), equal to JS on record-batch sizes', () => {
    if (process.platform === 'linux' && process.arch === 'x64') expect(nativeCrc32c).toBeTypeOf('function');
    const next = rng(11);
    const buffer = Buffer.alloc(1 << 20);
    for (let i = 0; i < buffer.length; i++) buffer[i] = Math.floor(next() * 256);
    for (const [start, end] of [[0, 64], [1, 1000], [7, 65_543], [3, buffer.length]] as const) {
      expect(crc32c(buffer, start, end)).toBe(crc32cJs(buffer, start, end));
    }
  });

  it('gives the standard check value of "123456789"', () => {
    expect(crc32c(Buffer.from('123456789')).toString(16)).toBe('e3069283');
    expect(crc32cJs(Buffer.from('123456789')).toString(16)).toBe('e3069283');
  });
});

describe('encodeProduceRequest', () => {
  it('writes the same bytes as kafkajs for 300 random requests (unicode, lone surrogates, null keys and values, headers)', async () => {
    for (let seed = 1; seed <= 300; seed++) {
      const args = randomArgs(seed);
      const ours = encodeProduceRequest(args, NOW);
      expect(ours, `seed ${seed}`).toBeDefined();
      expect(ours!.equals(await kafkajsBytes(args)), `seed ${seed}`).toBe(true);
    }
  });

  it('writes the same bytes as kafkajs for 300 random requests whose messages carry encoded headers around an ASCII value', async () => {
    let encodedMessages = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const next = rng(1000 + seed);
      const args = randomArgs(seed);
      for (const topic of args.topicData) {
        for (const partition of topic.partitions) {
          partition.messages = partition.messages.map((message) => {
            if (next() < 0.3) return message;
            // String headers only (what encodeHeadersAround takes), one of them the ASCII value each message gives.
            const entries = Array.from({ length: Math.floor(next() * 7) }, (_, h) => [`h${h}-${randomString(next, 2)}`, randomString(next, 4)] as const);
            const at = Math.floor(next() * (entries.length + 1));
            const middle = ['', 'id-0', 'x'.repeat(Math.floor(next() * 150))][Math.floor(next() * 3)]!;
            const headers = Object.fromEntries([...entries.slice(0, at), [`middle-${randomString(next, 2)}`, middle], ...entries.slice(at)]);
            const names = Object.keys(headers);
            const encodedHeaders = encodeHeadersAround(entries.slice(0, at), names[at]!, entries.slice(at));
            encodedMessages += 1;
            return { ...message, headers, encodedHeaders, encodedHeaderValue: middle };
          });
        }
      }
      const ours = encodeProduceRequest(args, NOW);
      expect(ours, `seed ${seed}`).toBeDefined();
      expect(ours!.equals(await kafkajsBytes(args)), `seed ${seed}`).toBe(true);
    }
    expect(encodedMessages).toBeGreaterThan(1000);
  });

  it("writes an envelope's encoded headers as kafkajs writes envelopeHeaders(), across types, sources and milliseconds", async () => {
    const next = rng(5);
    const types = ['select.events.v1.SampleCurated', 'select.events.v1.JobProgress', 'typé-日本'];
    const sources = ['curation', 'curación-😀'];
    const envelopes: EventEnvelope[] = Array.from({ length: 2000 }, (_, i) => ({
      id: i % 3 === 0 ? `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` : `replayed-${i}-${'z'.repeat(i % 90)}`,
      type: types[Math.floor(next() * types.length)]!,
      schemaVersion: next() < 0.9 ? 1 : 7,
      time: new Date(NOW + Math.floor(i / 50)),
      source: sources[Math.floor(next() * sources.length)]!,
      contentType: next() < 0.9 ? 'application/x-protobuf' : 'application/json',
    }));
    const messages = envelopes.map((envelope, i) => ({
      key: `k-${i % 7}`,
      value: Buffer.alloc(i % 300, i),
      headers: envelopeHeaders(envelope),
      encodedHeaders: encodedEnvelopeHeaders(envelope),
      encodedHeaderValue: envelope.id,
    }));
    expect(messages.every((m) => m.encodedHeaders !== undefined)).toBe(true);
    const args: ProduceRequestArgs = { acks: -1, timeout: 30_000, producerId: Long.fromNumber(7), producerEpoch: 0, topicData: [{ topic: 't', partitions: [{ partition: 0, messages }] }] };
    expect(encodeProduceRequest(args, NOW)!.equals(await kafkajsBytes(args))).toBe(true);
  });

  it('encodes envelope headers once per type and millisecond, and not at all around an id that is not ASCII', () => {
    const envelope: EventEnvelope = { id: 'a', type: 't', schemaVersion: 1, time: new Date(NOW), source: 's', contentType: 'c' };
    const first = encodedEnvelopeHeaders(envelope);
    expect(encodedEnvelopeHeaders({ ...envelope, id: 'b', time: new Date(NOW) })).toBe(first);
    expect(encodedEnvelopeHeaders({ ...envelope, time: new Date(NOW + 1) })).not.toBe(first);
    expect(encodedEnvelopeHeaders({ ...envelope, id: 'é' })).toBeUndefined();
    expect(encodedEnvelopeHeaders({ ...envelope, id: '😀' })).toBeUndefined();
  });

  it('writes the same bytes as kafkajs for an envelope-shaped batch of 5,000 events', async () => {
    const args: ProduceRequestArgs = {
      acks: -1,
      timeout: 30_000,
      producerId: Long.fromNumber(4242),
      producerEpoch: 0,
      topicData: [
        {
          topic: 'select.samples.v1',
          partitions: [0, 1, 2, 3, 4, 5].map((partition) => ({
            partition,
            firstSequence: partition * 1000,
            messages: Array.from({ length: 5000 / 6 }, (_, i) => ({
              key: `shift-${partition}`,
              value: Buffer.alloc(200, i),
              headers: { 'event-id': `id-${i}`, 'event-type': 'select.events.v1.SampleCurated', 'schema-version': '1', 'event-time': new Date(NOW).toISOString(), source: 'curation', 'content-type': 'application/x-protobuf' },
            })),
          })),
        },
      ],
    };
    expect(encodeProduceRequest(args, NOW)!.equals(await kafkajsBytes(args))).toBe(true);
  });

  it('writes the same bytes as kafkajs for records with 63, 64 and 200 headers (a header count of two varint bytes)', async () => {
    for (const count of [63, 64, 200]) {
      const headers = Object.fromEntries(Array.from({ length: count }, (_, i) => [`h-${i}`, i % 2 === 0 ? `v${i}` : Buffer.from([i])]));
      const args: ProduceRequestArgs = {
        acks: -1,
        timeout: 30_000,
        topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [{ key: 'k', value: 'first', headers }, { key: null, value: 'second', headers }] }] }],
      };
      expect(encodeProduceRequest(args, NOW)!.equals(await kafkajsBytes(args)), `${count} headers`).toBe(true);
    }
  });

  it('leaves compressed requests, message timestamps and multi-valued headers to kafkajs', () => {
    const base = randomArgs(11);
    expect(encodeProduceRequest({ ...base, compression: 1 })).toBeUndefined();
    const withMessage = (message: object): ProduceRequestArgs => ({
      ...base,
      topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [message as never] }] }],
    });
    expect(encodeProduceRequest(withMessage({ value: 'v', timestamp: '1765000000000' }))).toBeUndefined();
    expect(encodeProduceRequest(withMessage({ value: 'v', headers: { twice: ['a', 'b'] } }))).toBeUndefined();
    expect(encodeProduceRequest(withMessage({ value: 'v', headers: { once: 'a' } }))).toBeDefined();
  });
});

describe('installFastProduceEncoding', () => {
  it('makes kafkajs produce requests v3–v7 encode through it, and leaves v0–v2 alone', async () => {
    expect(installFastProduceEncoding()).toBe(true);
    expect(installFastProduceEncoding()).toBe(true);
    const produce = require('kafkajs/src/protocol/requests/produce/index.js') as {
      protocol(opts: { version: number }): (args: ProduceRequestArgs) => { request: { apiVersion: number; encode(): Promise<{ buffer: Buffer }> } };
    };
    const args = randomArgs(3);
    const expected = await kafkajsBytes(args);
    vi.spyOn(Date, 'now').mockReturnValue(NOW);
    for (const version of [3, 4, 5, 6, 7]) {
      const { request } = produce.protocol({ version })(args);
      expect(request.apiVersion).toBe(version);
      expect((await request.encode()).buffer.equals(expected)).toBe(true);
    }
    const spy = vi.spyOn(Date, 'now');
    spy.mockClear();
    await produce.protocol({ version: 7 })(args).request.encode();
    expect(spy).toHaveBeenCalled(); // the batch timestamp comes from the clock at encoding, as in kafkajs
    const v2 = produce.protocol({ version: 2 })({ ...args, topicData: [] });
    expect((v2 as unknown as { request: { apiVersion: number } }).request.apiVersion).toBe(2);
  });
});
