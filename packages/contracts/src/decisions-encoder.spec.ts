import { describe, expect, it } from 'vitest';
import { DECISIONS_ENCODER_LAYOUT, encodeCandidateDecisions, fieldLayout } from './decisions-encoder.js';
import { decodeMessage, encodeMessage, type CandidateDecisions__Output } from './index.js';
import { loadEventsRoot, random } from './codec.test-util.js';

const root = loadEventsRoot();
const TYPE = 'select.events.v1.CandidateDecisions';
const batchType = root.lookupType(TYPE);

/** What protobufjs's generic path writes for a payload. */
const generic = (payload: object): Buffer => Buffer.from(batchType.encode(batchType.fromObject(payload as Record<string, unknown>)).finish());

const STRINGS = [
  '',
  'c123456',
  'substring-match',
  'bad-record: line is not {"id": string, "caption": string}',
  'café',
  '犬の写真',
  'emoji 🐕 dog',
  'lone surrogate \ud800 here',
  `long ${'é'.repeat(30)} with 🐕 and a lone \udc00 surrogate past forty characters`,
];
const NUMBERS = [0, 1, -1, 127, 128, 300, 16_384, 2 ** 31 - 1, -(2 ** 31), 2 ** 32 - 1, 1.7, -3.9, Number.NaN, Number.POSITIVE_INFINITY, -0, 0.1, 1e-45, 3.4e38];
const SEEDS = [0, 1, 127, 128, 16_383, 16_384, 2 ** 31, 2 ** 35 + 3, Number.MAX_SAFE_INTEGER];

function randomPayload(next: () => number, decisions: number): Record<string, unknown> {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
  const maybe = <T>(value: () => T): T | undefined | null => {
    const r = next();
    return r < 0.2 ? undefined : r < 0.25 ? null : value();
  };
  return {
    shiftId: maybe(() => pick(STRINGS)),
    strategy: maybe(() => pick(STRINGS)),
    source: maybe(() => pick(STRINGS)),
    taskId: maybe(() => pick(STRINGS)),
    step: maybe(() => pick(STRINGS)),
    decisions: Array.from({ length: decisions }, () => ({
      shiftId: maybe(() => pick(STRINGS)),
      sourceId: maybe(() => pick(STRINGS)),
      seed: maybe(() => pick(SEEDS)),
      step: maybe(() => pick(STRINGS)),
      stage: maybe(() => pick(NUMBERS.filter(Number.isFinite))),
      kept: maybe(() => next() < 0.5),
      reason: maybe(() => pick(STRINGS)),
      score: maybe(() => pick(NUMBERS)),
      classIndex: maybe(() => pick(NUMBERS.filter(Number.isFinite))),
      strategy: maybe(() => pick(STRINGS)),
      source: maybe(() => pick(STRINGS)),
      taskId: maybe(() => pick(STRINGS)),
    })),
  };
}

describe('CandidateDecisions encoder', () => {
  it('knows every field of the loaded proto (a new field must be added to the encoder, or it falls back to protobufjs)', () => {
    for (const [name, layout] of Object.entries(DECISIONS_ENCODER_LAYOUT)) expect(fieldLayout(root.lookupType(name)), name).toBe(layout);
  });

  it("writes protobufjs's bytes for the curator's compact batches and the old shape", () => {
    const compact = {
      shiftId: 'job-1',
      strategy: 'substring-match',
      taskId: 'task-00017',
      step: 'substring-match',
      source: 'synthetic-laion',
      decisions: [
        { sourceId: 'c1', seed: undefined, step: undefined, stage: 1, kept: undefined, reason: 'no-lemma', score: Number.NaN, classIndex: -1, source: undefined },
        { sourceId: 'c2', seed: undefined, step: undefined, stage: 1, kept: true, reason: 'kept', score: Number.NaN, classIndex: 417, source: undefined },
        { sourceId: 'c3', seed: 42, step: 'read', stage: undefined, kept: undefined, reason: 'bad-record: x', score: 0.25, classIndex: undefined, source: 'openimages:machine' },
      ],
    };
    const old = {
      shiftId: 'job-1',
      decisions: [{ shiftId: 'job-1', sourceId: 'c1', seed: 0, step: 'substring-match', stage: 1, kept: false, reason: 'no-lemma', score: Number.NaN, classIndex: -1, strategy: 'substring-match', source: 'pool', taskId: 't0' }],
    };
    for (const payload of [compact, old, {}, { decisions: [] }, { shiftId: '', decisions: [{}] }]) {
      const direct = encodeCandidateDecisions(payload);
      expect(direct, JSON.stringify(payload)).toBeDefined();
      expect(direct!.equals(generic(payload)), JSON.stringify(payload)).toBe(true);
      expect(encodeMessage(TYPE, payload).equals(generic(payload))).toBe(true);
    }
    const back = decodeMessage<CandidateDecisions__Output>(TYPE, encodeMessage(TYPE, compact));
    expect(back).toMatchObject({ shiftId: 'job-1', strategy: 'substring-match', taskId: 'task-00017', step: 'substring-match', source: 'synthetic-laion' });
    expect(back.decisions.map((d) => [d.sourceId, d.seed, d.step, d.stage, d.kept, d.reason, d.classIndex, d.source])).toEqual([
      ['c1', '0', '', 1, false, 'no-lemma', -1, ''],
      ['c2', '0', '', 1, true, 'kept', 417, ''],
      ['c3', '42', 'read', 0, false, 'bad-record: x', 0, 'openimages:machine'],
    ]);
    expect(Number.isNaN(back.decisions[0]!.score)).toBe(true);
    expect(back.decisions[2]!.score).toBe(0.25);
  });

  it("writes protobufjs's bytes for 2,000 random payloads: every field present, absent or null; Unicode, lone surrogates, long strings; negative, fractional and huge numbers; NaN and infinities", () => {
    const next = random(12);
    for (let i = 0; i < 2000; i++) {
      const payload = randomPayload(next, Math.floor(next() * 6));
      const direct = encodeCandidateDecisions(payload);
      expect(direct, JSON.stringify(payload)).toBeDefined();
      expect(direct!.toString('hex'), JSON.stringify(payload)).toBe(generic(payload).toString('hex'));
    }
  });

  it('leaves values protobufjs would convert to the generic path, which still converts, checks and round-trips them', () => {
    const bigSeed = { shiftId: 's', decisions: [{ sourceId: 'c1', seed: '9007199254740993' }] };
    expect(encodeCandidateDecisions(bigSeed)).toBeUndefined();
    expect(decodeMessage<CandidateDecisions__Output>(TYPE, encodeMessage(TYPE, bigSeed)).decisions[0]?.seed).toBe('9007199254740993');
    for (const payload of [{ shiftId: 7 }, { decisions: [{ score: '0.5' }] }, { decisions: [{ seed: -1 }] }, { decisions: [{ kept: 1 }] }, { decisions: [null] }, { decisions: 'x' }]) {
      expect(encodeCandidateDecisions(payload), JSON.stringify(payload)).toBeUndefined();
    }
    expect(encodeMessage(TYPE, { decisions: [{ seed: -1, score: '0.5', kept: 1 }] }).equals(generic({ decisions: [{ seed: -1, score: '0.5', kept: 1 }] }))).toBe(true);
    expect(() => encodeMessage(TYPE, { decisions: 'x' })).toThrow(/array expected/);
  });
});
