import { describe, expect, it } from 'vitest';
import { envelopeHeaders, parseEnvelope, type EventEnvelope } from './envelope.js';
import { EventsError } from './errors.js';

const envelope: EventEnvelope = {
  id: '0b6a1c1e-7d7a-4c55-9a53-2f1f7a4f5b10',
  type: 'select.events.v1.SampleCurated',
  schemaVersion: 1,
  time: new Date('2024-05-06T07:08:09.123Z'),
  source: 'curation',
  contentType: 'application/x-protobuf',
};

/** Headers the way kafkajs hands them to a consumer: every value a Buffer. */
function asReceived(headers: Record<string, string>): Record<string, Buffer> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Buffer.from(v, 'utf8')]));
}

describe('envelope headers', () => {
  it('writes string headers another language can read, and reads them back from Buffers', () => {
    const headers = envelopeHeaders(envelope);
    expect(headers).toEqual({
      'event-id': envelope.id,
      'event-type': 'select.events.v1.SampleCurated',
      'schema-version': '1',
      'event-time': '2024-05-06T07:08:09.123Z',
      source: 'curation',
      'content-type': 'application/x-protobuf',
    });
    expect(parseEnvelope(asReceived(headers))).toEqual(envelope);
  });

  it('writes each event its own time and schema version, however many share a millisecond', () => {
    const at = (iso: string, schemaVersion = 1): Record<string, string> => envelopeHeaders({ ...envelope, time: new Date(iso), schemaVersion });
    expect(at('2024-05-06T07:08:09.123Z')['event-time']).toBe('2024-05-06T07:08:09.123Z');
    expect(at('2024-05-06T07:08:09.123Z')['event-time']).toBe('2024-05-06T07:08:09.123Z');
    expect(at('2024-05-06T07:08:09.124Z')['event-time']).toBe('2024-05-06T07:08:09.124Z');
    expect(at('1999-12-31T23:59:59.999Z', 2)).toMatchObject({ 'event-time': '1999-12-31T23:59:59.999Z', 'schema-version': '2' });
    expect(() => at('not a time')).toThrow(RangeError);
  });

  it('rejects a message without event-id or event-type', () => {
    const { 'event-id': _id, ...noId } = envelopeHeaders(envelope);
    const { 'event-type': _type, ...noType } = envelopeHeaders(envelope);
    expect(() => parseEnvelope(asReceived(noId))).toThrow(/missing event-id/);
    expect(() => parseEnvelope(asReceived(noType))).toThrow(EventsError);
    expect(() => parseEnvelope(undefined)).toThrow(/missing event-id/);
  });

  it('fills optional headers from defaults and the broker timestamp, and rejects unparseable ones', () => {
    const minimal = asReceived({ 'event-id': 'e1', 'event-type': envelope.type });
    expect(parseEnvelope(minimal, '1700000000000')).toEqual({
      id: 'e1',
      type: envelope.type,
      schemaVersion: 1,
      time: new Date(1_700_000_000_000),
      source: '',
      contentType: 'application/x-protobuf',
    });
    expect(() => parseEnvelope({ ...minimal, 'schema-version': Buffer.from('v2') }, '0')).toThrow(/schema-version/);
    expect(() => parseEnvelope({ ...minimal, 'event-time': Buffer.from('yesterday') })).toThrow(/event-time/);
    expect(() => parseEnvelope({ ...minimal, 'content-type': Buffer.from('application/json') }, '0')).toThrow(/content-type/);
  });

  it('uses the last value of a repeated header', () => {
    const headers = { ...asReceived(envelopeHeaders(envelope)), 'event-id': [Buffer.from('first'), Buffer.from('second')] };
    expect(parseEnvelope(headers).id).toBe('second');
  });

  it('reads every header of every event anew, however many repeat or differ in a byte of the same length', () => {
    const times = ['2024-05-06T07:08:09.123Z', '2024-05-06T07:08:09.124Z', '2024-05-06T07:08:09.124Z', '2025-01-01T00:00:00.000Z'];
    const sources = ['curation', 'curation', 'curatioN', 'trainer', 'ü-service', 'ü-service'];
    const seen = [];
    for (let i = 0; i < 24; i++) {
      const expected = { ...envelope, id: `id-${i}`, time: new Date(times[i % times.length] as string), source: sources[i % sources.length] as string, schemaVersion: 1 + (i % 3) };
      // A fresh buffer slice each time, as a fetch response gives; the previous event's buffer is overwritten.
      const received = asReceived(envelopeHeaders(expected));
      const parsed = parseEnvelope(received);
      received.source?.fill(0);
      seen.push(parsed);
      expect(parsed).toEqual(expected);
    }
    expect(seen.map((e) => e.source)).toContain('curatioN');
    // A bad time right after good ones of the same length is still refused.
    expect(() => parseEnvelope({ ...asReceived(envelopeHeaders(envelope)), 'event-time': Buffer.from('2024-13-45T07:08:09.123Z') })).toThrow(/event-time/);
  });
});
