// The SampleCurated transcoder against the generic path (decodeMessage, eventToRow, the RowBinary encoder):
// byte for byte on random and damaged bodies, and in the real server, where both land in a samples table made
// by the sink's own migrations.
import { decodeMessage, encodeMessage } from '@select/contracts';
import { EVENT_TYPES, type ReceivedEvent } from '@select/events';
import { compileRowBinary, createClickHouse, runMigrations, sql, type ClickHouse, type RowBinaryBytes } from '@select/metrics';
import { holdClickHouseUp, seededRandom as random } from '@select/testing';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventToRow } from './event-rows.js';
import { samplePayloadTypesMatch, SAMPLE_PAYLOAD_TYPES, transcodeSampleCurated } from './sample-row-binary.js';
import { ENVELOPE_COLUMNS, METRICS_SINK_MIGRATIONS, TABLE_COLUMNS } from './schema.js';

const TYPE = EVENT_TYPES.SampleCurated;
const generic = compileRowBinary(SAMPLE_PAYLOAD_TYPES);

const STRINGS = ['', 's-0000000042', 'laion-img2img', 'n02099601', 'café', '犬の写真', 'emoji 🐕 dog', `quote " back\\slash`, 'tab\tnew\nline\u0001\u001f\u007f', 'line sep \u2028', 'lone surrogate \ud800 here', 'p'.repeat(300), 'é'.repeat(70)];
const KEYS = ['source', 'caption', 'url', 'toString', 'constructor', 'ключ', 'a"b', '', '12', '01', '-1', '__proto__', 'k\u0000'];
const NUMBERS = [0, 1, -1, 127, 128, 300, 2 ** 31 - 1, -(2 ** 31), 2 ** 32 + 5, 1.7, Number.NaN, Number.POSITIVE_INFINITY, -0, 1e-310];
const SEEDS = [0, 1, 128, 2 ** 35 + 3, '9007199254740993', '9223372036854775807', '-1', '-9223372036854775808'];

function randomPayload(next: () => number): Record<string, unknown> {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
  const maybe = <T>(value: () => T): T | undefined => (next() < 0.2 ? undefined : value());
  return {
    sampleId: maybe(() => pick(STRINGS)),
    shiftId: maybe(() => pick(STRINGS)),
    strategy: maybe(() => pick(STRINGS)),
    classIndex: maybe(() => pick(NUMBERS)),
    wnid: maybe(() => pick(STRINGS)),
    sourceId: maybe(() => pick(STRINGS)),
    score: maybe(() => pick(NUMBERS)),
    shard: maybe(() => pick(STRINGS)),
    key: maybe(() => pick(STRINGS)),
    provenance: maybe(() => ({
      strategy: maybe(() => pick(STRINGS)),
      paramsHash: maybe(() => pick(STRINGS)),
      sourceId: maybe(() => pick(STRINGS)),
      score: maybe(() => pick(NUMBERS)),
      modelIds: maybe(() => Array.from({ length: Math.floor(next() * 4) }, () => pick(STRINGS))),
      prompt: maybe(() => pick(STRINGS)),
      seed: maybe(() => pick(SEEDS)),
      extra: maybe(() => Object.fromEntries(Array.from({ length: Math.floor(next() * 4) }, () => [pick(KEYS), pick(STRINGS)]))),
    })),
    width: maybe(() => pick(NUMBERS)),
    height: maybe(() => pick(NUMBERS)),
  };
}

/** Protobufjs's bytes for a payload (numbers it would convert are given as such, as encodeMessage takes them). */
const encode = (payload: Record<string, unknown>): Buffer => Buffer.from(encodeMessage(TYPE, payload));

let offset = 0;
function eventOf(payload: unknown): ReceivedEvent {
  offset += 1;
  return {
    envelope: { id: `e-${offset}`, type: TYPE, schemaVersion: 1, time: new Date(1_765_000_000_123 + offset), source: 'spec', contentType: 'application/x-protobuf' },
    payload,
    topic: 'select.samples.v1',
    partition: offset % 6,
    offset: String(offset),
    key: null,
  } as ReceivedEvent;
}

/** The payload columns as the generic path encodes them, or undefined when decodeMessage refuses the body. */
function genericBytes(body: Buffer): Buffer | undefined {
  let payload: unknown;
  try {
    payload = decodeMessage(TYPE, body);
  } catch {
    return undefined;
  }
  return generic.encode([eventToRow(eventOf(payload), new Date()).row]);
}

/** Both paths on one body: the same bytes, or the transcoder gives up. Returns whether it transcoded. */
function expectSameBytes(body: Buffer, label: string): boolean {
  const transcoded = transcodeSampleCurated(body);
  if (transcoded === undefined) return false;
  expect(transcoded.columns, label).toBe(SAMPLE_PAYLOAD_TYPES.length);
  const expected = genericBytes(body);
  expect(expected, `${label}: transcoded a body decodeMessage refuses`).toBeDefined();
  expect(Buffer.from(transcoded.bytes).equals(expected as Buffer), label).toBe(true);
  return true;
}

/** Whether JavaScript keeps a payload's `extra` in wire order and its strings are valid UTF-16 (the transcoder's cases). */
function transcodable(payload: Record<string, unknown>): boolean {
  const text = JSON.stringify(payload);
  if (/\\ud[89a-f]/i.test(text)) return false;
  const extra = (payload.provenance as { extra?: Record<string, unknown> } | undefined)?.extra ?? {};
  return Object.keys(extra).every((key) => !/^\d+$/.test(key) && key !== '__proto__');
}

describe('transcodeSampleCurated (pure)', () => {
  it("covers the samples table's payload columns, in its order", () => {
    expect(SAMPLE_PAYLOAD_TYPES.map((c) => c.name)).toEqual(TABLE_COLUMNS.samples.slice(ENVELOPE_COLUMNS.length));
    expect(samplePayloadTypesMatch(SAMPLE_PAYLOAD_TYPES)).toBe(true);
    expect(samplePayloadTypesMatch(SAMPLE_PAYLOAD_TYPES.map((c) => (c.name === 'score' ? { ...c, type: 'Float32' } : c)))).toBe(false);
    expect(samplePayloadTypesMatch(SAMPLE_PAYLOAD_TYPES.slice(1))).toBe(false);
  });

  it('writes the bytes the generic path writes for 3,000 random bodies, and gives up only where JavaScript reorders or replaces', () => {
    const next = random(18);
    let transcoded = 0;
    let expected = 0;
    for (let i = 0; i < 3000; i++) {
      const payload = randomPayload(next);
      const label = JSON.stringify(payload);
      const done = expectSameBytes(encode(payload), label);
      if (transcodable(payload)) {
        expected += 1;
        expect(done, label).toBe(true);
      }
      if (done) transcoded += 1;
    }
    expect(transcoded).toBe(expected);
    expect(transcoded).toBeGreaterThan(1000);
  });

  it('writes JSON.stringify of extra: escapes, Unicode, empty keys and values, in wire order', () => {
    const extra = { source: 'laion', caption: 'a "dog"\\ on\ttwo\nlines \u0000 🐕', '': '', zz: 'last', aa: 'after zz' };
    const body = encode({ sampleId: 'x', provenance: { extra } });
    expect(expectSameBytes(body, 'extra')).toBe(true);
    const bytes = Buffer.from((transcodeSampleCurated(body) as RowBinaryBytes).bytes);
    expect(bytes.includes(Buffer.from(JSON.stringify(extra)))).toBe(true);
  });

  it('takes more model ids and extra entries than its first arrays hold (20 and 12)', () => {
    const modelIds = Array.from({ length: 20 }, (_, i) => `model-${i}`);
    const extra = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`key-${i}`, `value ${i}`]));
    expect(expectSameBytes(encode({ sampleId: 'many', provenance: { modelIds, extra, seed: '9223372036854775807' } }), 'many')).toBe(true);
  });

  it('gives up on a repeated extra key, integer-like and __proto__ keys, invalid UTF-8, a repeated provenance', () => {
    const entry = (key: string, value: string): Buffer => {
      const inner = Buffer.concat([Buffer.from([0x0a, key.length]), Buffer.from(key), Buffer.from([0x12, value.length]), Buffer.from(value)]);
      return Buffer.concat([Buffer.from([0x42, inner.length]), inner]);
    };
    const provenance = (...parts: Buffer[]): Buffer => {
      const inner = Buffer.concat(parts);
      return Buffer.concat([Buffer.from([0x52, inner.length]), inner]);
    };
    const cases: Array<[string, Buffer]> = [
      ['repeated key', provenance(entry('k', 'one'), entry('k', 'two'))],
      ['digit key', provenance(entry('a', '1'), entry('7', '2'))],
      ['__proto__ key', provenance(entry('__proto__', 'x'))],
      ['invalid UTF-8', Buffer.from([0x0a, 2, 0xc3, 0x28])],
      ['repeated provenance', Buffer.concat([provenance(entry('k', 'v')), provenance(entry('j', 'w'))])],
      ['field 1 as fixed32', Buffer.from([0x0d, 1, 2, 3, 4])],
      ['a group', Buffer.from([0x6b, 0x6c])],
    ];
    for (const [label, body] of cases) expect(transcodeSampleCurated(body), label).toBeUndefined();
    // what the generic path makes of them (a repeated key keeps its first place with the last value)
    const repeated = decodeMessage<{ provenance: { extra: Record<string, string> } }>(TYPE, cases[0]?.[1] as Buffer);
    expect(repeated.provenance.extra).toEqual({ k: 'two' });
    // invalid UTF-8 lands with replacement characters, as the generic path decodes it
    expect(decodeMessage<{ sampleId: string }>(TYPE, cases[3]?.[1] as Buffer).sampleId).toBe('\ufffd(');
    // skipped fields of a newer writer (top level, in provenance, in an extra entry) change nothing
    const withUnknown = Buffer.concat([Buffer.from([0x68, 0x96, 0x01]), provenance(Buffer.from([0x7a, 1, 0x61]), entry('k', 'v')), Buffer.from([0x71, 1, 2, 3, 4, 5, 6, 7, 8])]);
    expect(expectSameBytes(withUnknown, 'unknown fields')).toBe(true);
  });

  it('gives up on a body cut at any byte, or writes what the generic path writes of the shorter body', () => {
    const body = encode({ sampleId: 's-1', shiftId: 'shift', classIndex: -3, score: 0.5, provenance: { strategy: 'x', modelIds: ['a', 'b'], seed: '-9', extra: { k: 'v', caption: 'c' } }, width: 7 });
    let transcoded = 0;
    for (let cut = 0; cut <= body.length; cut++) if (expectSameBytes(body.subarray(0, cut), `cut at ${cut}`)) transcoded += 1;
    expect(transcoded).toBeGreaterThan(3);
    expect(expectSameBytes(body, 'whole')).toBe(true);
  });
});

describe('transcodeSampleCurated in the real server', () => {
  const database = `select_test_transcode_${randomBytes(4).toString('hex')}`;
  let ch: ClickHouse;
  let release: () => void;

  beforeAll(async () => {
    release = await holdClickHouseUp();
    ch = createClickHouse({ database });
    await runMigrations(ch, METRICS_SINK_MIGRATIONS);
    await ch.command(sql`CREATE TABLE samples_generic AS samples`);
  });
  afterAll(async () => {
    await ch?.command(sql`DROP DATABASE IF EXISTS ${sql.id(database)}`);
    await ch?.close();
    release?.();
  });

  it("lands what the generic path lands, in the table the sink's migrations make", async () => {
    const types = await ch.prepareInsert('samples', TABLE_COLUMNS.samples);
    expect(types && samplePayloadTypesMatch(types.slice(ENVELOPE_COLUMNS.length))).toBe(true);
    const next = random(7);
    const ingestedAt = new Date();
    const transcodedRows: Record<string, unknown>[] = [];
    const genericRows: Record<string, unknown>[] = [];
    while (transcodedRows.length < 500) {
      const body = encode(randomPayload(next));
      const transcoded = transcodeSampleCurated(body);
      if (transcoded === undefined) continue;
      const event = eventOf(transcoded);
      transcodedRows.push(eventToRow(event, ingestedAt).row);
      genericRows.push(eventToRow({ ...event, payload: decodeMessage(TYPE, body) }, ingestedAt).row);
    }
    await ch.insert('samples', transcodedRows, TABLE_COLUMNS.samples, { format: 'RowBinary' });
    await ch.insert('samples_generic', genericRows, TABLE_COLUMNS.samples, { format: 'RowBinary' });
    const read = (table: string): Promise<unknown[]> =>
      ch.query(sql`SELECT *, toString(score) AS score_text, toString(provenance_score) AS provenance_score_text FROM ${sql.id(table)} ORDER BY event_id`);
    const [landed, expected] = await Promise.all([read('samples'), read('samples_generic')]);
    expect(landed).toHaveLength(500);
    expect(landed).toEqual(expected);
  });
});
