import { describe, expect, it } from 'vitest';
import { fieldLayout } from './decisions-encoder.js';
import { decodeMessage, encodeMessage, type SampleCurated__Output } from './index.js';
import { loadEventsRoot, random } from './codec.test-util.js';
import { decodeSampleCurated } from './sample-decoder.js';
import { encodeSampleCurated, SAMPLE_ENCODER_LAYOUT } from './sample-encoder.js';

const root = loadEventsRoot();
const TYPE = 'select.events.v1.SampleCurated';
const sampleType = root.lookupType(TYPE);

/** What protobufjs's generic path writes for a payload. */
const generic = (payload: object): Buffer => Buffer.from(sampleType.encode(sampleType.fromObject(payload as Record<string, unknown>)).finish());

/** What protobufjs's generic path reads from a body (decode, then toObject as decodeMessage asks). */
const genericDecode = (body: Uint8Array): unknown => sampleType.toObject(sampleType.decode(body), { longs: String, enums: String, defaults: true, oneofs: true });

const STRINGS = ['', 's-0000000042', 'laion-img2img', 'n02099601', 'café', '犬の写真', 'emoji 🐕 dog', 'lone surrogate \ud800 here', `long ${'é'.repeat(30)} with 🐕 and a lone \udc00 surrogate past forty characters`, 'p'.repeat(300), 'ü'.repeat(90), `${'日'.repeat(6000)} 3-byte length`];
const NUMBERS = [0, 1, -1, 127, 128, 300, 16_384, 2 ** 31 - 1, -(2 ** 31), 2 ** 32 + 5, 1.7, -3.9, Number.NaN, Number.POSITIVE_INFINITY, -0, 0.1, 1e-310, 1.7e308];
const SEEDS: unknown[] = [0, 1, 127, 128, 2 ** 35 + 3, Number.MAX_SAFE_INTEGER, '0', '1234567890123', '9007199254740993', '9223372036854775807'];

function randomPayload(next: () => number): Record<string, unknown> {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
  const maybe = <T>(value: () => T): T | undefined | null => {
    const r = next();
    return r < 0.2 ? undefined : r < 0.25 ? null : value();
  };
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
      extra: maybe(() => Object.fromEntries(Array.from({ length: Math.floor(next() * 4) }, (_, i) => [`${pick(STRINGS)}${i}`, pick(STRINGS)]))),
    })),
    width: maybe(() => pick(NUMBERS)),
    height: maybe(() => pick(NUMBERS)),
  };
}

describe('SampleCurated encoder', () => {
  it('knows every field of the loaded proto (a new field must be added to the encoder, or it falls back to protobufjs)', () => {
    for (const [name, layout] of Object.entries(SAMPLE_ENCODER_LAYOUT)) expect(fieldLayout(root.lookupType(name)), name).toBe(layout);
  });

  it("writes protobufjs's bytes for 3,000 random payloads: every field present, absent or null; Unicode, lone surrogates, long strings; negative, fractional and huge numbers; NaN and infinities; seeds up to 2^63 - 1", () => {
    const next = random(18);
    for (let i = 0; i < 3000; i++) {
      const payload = randomPayload(next);
      const direct = encodeSampleCurated(payload);
      expect(direct, JSON.stringify(payload)).toBeDefined();
      expect(direct!.toString('hex'), JSON.stringify(payload)).toBe(generic(payload).toString('hex'));
    }
  });

  it('is what encodeMessage uses, and what it writes decodes to the payload', () => {
    const sample = {
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
    expect(encodeMessage(TYPE, sample).equals(encodeSampleCurated(sample)!)).toBe(true);
    expect(decodeMessage<SampleCurated__Output>(TYPE, encodeMessage(TYPE, sample))).toEqual(sample);
  });

  it('leaves values protobufjs would convert to the generic path, which still converts, checks and round-trips them', () => {
    for (const payload of [
      { sampleId: 7 },
      { score: '0.5' },
      { classIndex: '3' },
      { provenance: 'x' },
      { provenance: { seed: -1 } },
      { provenance: { seed: '12abc' } },
      { provenance: { seed: '9223372036854775808' } },
      { provenance: { seed: 1.5 } },
      { provenance: { modelIds: 'clip' } },
      { provenance: { modelIds: [1] } },
      { provenance: { extra: { k: 1 } } },
    ]) {
      expect(encodeSampleCurated(payload), JSON.stringify(payload)).toBeUndefined();
    }
    const converted = { sampleId: 7, score: '0.5', provenance: { seed: -1, extra: { k: 1 } } };
    expect(encodeMessage(TYPE, converted).equals(generic(converted))).toBe(true);
    expect(decodeMessage<SampleCurated__Output>(TYPE, encodeMessage(TYPE, converted))).toMatchObject({ sampleId: '7', score: 0.5, provenance: { seed: '-1', extra: { k: '1' } } });
    expect(() => encodeMessage(TYPE, { provenance: 'x' })).toThrow(/object expected/);
  });
});

describe('SampleCurated decoder', () => {
  /** Both decoders on one body: the same object (keys in the same order), or both refuse it. */
  function expectSameReading(body: Buffer, label: string): void {
    let expected: unknown;
    let expectedError: unknown;
    try {
      expected = genericDecode(body);
    } catch (err) {
      expectedError = err;
    }
    const direct = decodeSampleCurated(body);
    if (expectedError !== undefined) {
      expect(direct, label).toBeUndefined();
      expect(() => decodeMessage(TYPE, body), label).toThrow(/not a valid select.events.v1.SampleCurated/);
      return;
    }
    const read = decodeMessage(TYPE, body);
    expect(read, label).toEqual(expected);
    expect(JSON.stringify(read), label).toBe(JSON.stringify(expected));
  }

  it('reads what protobufjs reads from 3,000 random bodies, key order included, and is what decodeMessage uses', () => {
    const next = random(81);
    let direct = 0;
    for (let i = 0; i < 3000; i++) {
      const payload = randomPayload(next);
      const body = generic(payload);
      expectSameReading(body, JSON.stringify(payload));
      if (decodeSampleCurated(body) !== undefined) direct += 1;
    }
    expect(direct).toBe(3000);
  });

  it('reads bodies with fields it does not know (a newer writer), skipping them as protobufjs does', () => {
    const next = random(5);
    const unknown = [
      Buffer.from([0x68, 0x96, 0x01]), // field 13, varint 150
      Buffer.from([0x71, 1, 2, 3, 4, 5, 6, 7, 8]), // field 14, fixed64
      Buffer.from([0x7a, 0x03, 0x61, 0x62, 0x63]), // field 15, "abc"
      Buffer.from([0x85, 0x01, 1, 2, 3, 4]), // field 16, fixed32
    ];
    for (let i = 0; i < 200; i++) {
      const body = generic(randomPayload(next));
      const extra = unknown[i % unknown.length]!;
      const at = Math.floor(next() * 2) === 0 ? 0 : body.length;
      const mixed = Buffer.concat(at === 0 ? [extra, body] : [body, extra]);
      expectSameReading(mixed, `unknown field ${i}`);
      expect(decodeSampleCurated(mixed), `unknown field ${i}`).toBeDefined();
    }
  });

  it('leaves damaged bodies to protobufjs: cut at every byte, a known field with another wire type, a group', () => {
    const body = generic({ sampleId: 's-1', shiftId: 'shift', classIndex: -3, score: 0.5, provenance: { strategy: 'x', modelIds: ['a', 'b'], seed: '-9', extra: { k: 'v' } }, width: 7 });
    for (let cut = 0; cut < body.length; cut++) expectSameReading(body.subarray(0, cut), `cut at ${cut}`);
    expect(decodeSampleCurated(Buffer.from([0x0d, 1, 2, 3, 4]))).toBeUndefined(); // field 1 as fixed32
    expect(decodeSampleCurated(Buffer.from([0x6b, 0x6c]))).toBeUndefined(); // field 13 as a group
    expectSameReading(Buffer.from([0x0d, 1, 2, 3, 4]), 'wire type');
  });
});
