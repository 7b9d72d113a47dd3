import type { IHeaders } from 'kafkajs';
import { utf8ByteLength } from '@select/contracts';
import { EventsError } from './errors.js';
import { encodeHeadersAround, type EncodedHeaders } from './produce-encoding.js';
import { RepeatedText } from './repeated-text.js';

/** The envelope every event carries in its Kafka headers; the body is the protobuf payload alone. */
export interface EventEnvelope {
  /** Unique id of the event (uuid v4 unless a replay passes the original id); consumers dedupe on it. */
  id: string;
  /** Fully qualified protobuf message name of the body, e.g. `select.events.v1.SampleCurated`. */
  type: string;
  /** Schema version of the body within its versioned proto package; 1 for everything in `select.events.v1`. */
  schemaVersion: number;
  /** When the producer created the event (not when Kafka stored it). */
  time: Date;
  /** Service that produced the event. */
  source: string;
  /** Encoding of the body; always `application/x-protobuf`. */
  contentType: string;
}

/** One decoded event as a consumer's handler receives it. */
export interface ReceivedEvent<T = unknown> {
  envelope: EventEnvelope;
  payload: T;
  topic: string;
  partition: number;
  /** Kafka offset, a decimal string (64-bit). */
  offset: string;
  key: string | null;
}

/** Header names of the envelope. */
export const ENVELOPE_HEADERS = {
  id: 'event-id',
  type: 'event-type',
  schemaVersion: 'schema-version',
  time: 'event-time',
  source: 'source',
  contentType: 'content-type',
} as const;

export const PROTOBUF_CONTENT_TYPE = 'application/x-protobuf';

/** The schema version this library writes: the `v1` in `select.events.v1`. */
export const SCHEMA_VERSION = 1;
const SCHEMA_VERSION_TEXT = String(SCHEMA_VERSION);

// The ISO text of the last event time: a producer publishing thousands of events a second gives most of
// them the same millisecond, and toISOString() was ~0.4 µs of each publish.
let lastTimeMs = Number.NaN;
let lastTimeText = '';

function isoTime(time: Date): string {
  const ms = time.getTime();
  if (ms !== lastTimeMs) {
    lastTimeText = time.toISOString(); // throws RangeError for an invalid date, as before
    lastTimeMs = ms;
  }
  return lastTimeText;
}

/** The envelope's headers but the id, in envelopeHeaders' order, built for one type and millisecond at a time. */
interface EncodedEnvelope {
  schemaVersion: number;
  timeMs: number;
  source: string;
  contentType: string;
  encoded: EncodedHeaders;
}

// The last encoding of each event type's headers: a producer gives most events of a type the same millisecond,
// source and content type, so a publish only looks them up.
const encodedByType = new Map<string, EncodedEnvelope>();
const ENCODED_TYPES_LIMIT = 1000;

/**
 * envelopeHeaders(envelope) in record layout around the event id (the fast Produce encoder's EncodedHeaders,
 * with the id as the message's `encodedHeaderValue`), or undefined when the id is not ASCII.
 */
export function encodedEnvelopeHeaders(envelope: EventEnvelope): EncodedHeaders | undefined {
  if (utf8ByteLength(envelope.id) !== envelope.id.length) return undefined;
  const timeMs = envelope.time.getTime();
  const last = encodedByType.get(envelope.type);
  if (
    last !== undefined &&
    last.timeMs === timeMs &&
    last.source === envelope.source &&
    last.contentType === envelope.contentType &&
    last.schemaVersion === envelope.schemaVersion
  ) {
    return last.encoded;
  }
  const { [ENVELOPE_HEADERS.id]: _id, ...rest } = envelopeHeaders(envelope);
  const encoded = encodeHeadersAround([], ENVELOPE_HEADERS.id, Object.entries(rest));
  if (encodedByType.size >= ENCODED_TYPES_LIMIT) encodedByType.clear();
  encodedByType.set(envelope.type, { schemaVersion: envelope.schemaVersion, timeMs, source: envelope.source, contentType: envelope.contentType, encoded });
  return encoded;
}

/** Envelope as Kafka headers; every value is a UTF-8 string. */
export function envelopeHeaders(envelope: EventEnvelope): Record<string, string> {
  return {
    [ENVELOPE_HEADERS.id]: envelope.id,
    [ENVELOPE_HEADERS.type]: envelope.type,
    [ENVELOPE_HEADERS.schemaVersion]: envelope.schemaVersion === SCHEMA_VERSION ? SCHEMA_VERSION_TEXT : String(envelope.schemaVersion),
    [ENVELOPE_HEADERS.time]: isoTime(envelope.time),
    [ENVELOPE_HEADERS.source]: envelope.source,
    [ENVELOPE_HEADERS.contentType]: envelope.contentType,
  };
}

/**
 * A header's value as a string. kafkajs hands received headers over as Buffers, and a header that occurs
 * twice as an array; like Kafka's `lastHeader`, the last occurrence wins.
 */
export function headerValue(headers: IHeaders | undefined, name: string): string | undefined {
  const last = lastHeader(headers, name);
  if (last === undefined) return undefined;
  return Buffer.isBuffer(last) ? last.toString('utf8') : String(last);
}

/** A header's last value, as kafkajs hands it over (a repeated header is an array; the last one wins). */
function lastHeader(headers: IHeaders | undefined, name: string): Buffer | string | undefined {
  const raw = headers?.[name];
  const last = Array.isArray(raw) ? raw[raw.length - 1] : raw;
  return last === null ? undefined : last;
}

/**
 * One envelope header's value as text, reusing the last text when the bytes repeat: of an event's six headers
 * only event-id differs from event to event; type, schema version, source and content type repeat, and so does
 * the time within a millisecond.
 */
class HeaderText {
  private readonly repeated = new RepeatedText(64);

  constructor(private readonly name: string) {}

  of(headers: IHeaders | undefined): string | undefined {
    const last = lastHeader(headers, this.name);
    if (last === undefined) return undefined;
    return Buffer.isBuffer(last) ? this.repeated.decode(last) : String(last);
  }
}

const typeText = new HeaderText(ENVELOPE_HEADERS.type);
const versionText = new HeaderText(ENVELOPE_HEADERS.schemaVersion);
const timeText = new HeaderText(ENVELOPE_HEADERS.time);
const sourceText = new HeaderText(ENVELOPE_HEADERS.source);
const contentTypeText = new HeaderText(ENVELOPE_HEADERS.contentType);
// The last event-time text parsed and its milliseconds: the same string object comes back from timeText.
let parsedTimeText: string | undefined;
let parsedTimeMs = Number.NaN;

function parseTime(text: string): number {
  if (text !== parsedTimeText) {
    parsedTimeMs = new Date(text).getTime();
    parsedTimeText = text;
  }
  return parsedTimeMs;
}

/**
 * Reads the envelope from received headers. event-id and event-type are required; a missing
 * schema-version means 1, a missing event-time falls back to the broker timestamp, a missing
 * content-type means protobuf. Anything present but unparseable is a BAD_ENVELOPE error.
 */
export function parseEnvelope(headers: IHeaders | undefined, brokerTimestampMs?: string): EventEnvelope {
  const id = headerValue(headers, ENVELOPE_HEADERS.id)?.trim();
  if (!id) throw new EventsError('BAD_ENVELOPE', `missing ${ENVELOPE_HEADERS.id} header`);
  const type = typeText.of(headers)?.trim();
  if (!type) throw new EventsError('BAD_ENVELOPE', `missing ${ENVELOPE_HEADERS.type} header`);

  const version = versionText.of(headers)?.trim();
  const schemaVersion = version === undefined || version === '' ? SCHEMA_VERSION : Number(version);
  if (!Number.isInteger(schemaVersion) || schemaVersion < 1) {
    throw new EventsError('BAD_ENVELOPE', `${ENVELOPE_HEADERS.schemaVersion} "${version}" is not a positive integer`);
  }

  const timeValue = timeText.of(headers)?.trim();
  const time = new Date(timeValue ? parseTime(timeValue) : Number(brokerTimestampMs ?? Number.NaN));
  if (Number.isNaN(time.getTime())) {
    throw new EventsError('BAD_ENVELOPE', `${ENVELOPE_HEADERS.time} "${timeValue ?? ''}" is not an ISO-8601 time`);
  }

  const contentType = contentTypeText.of(headers)?.trim() || PROTOBUF_CONTENT_TYPE;
  if (contentType !== PROTOBUF_CONTENT_TYPE) {
    throw new EventsError('BAD_ENVELOPE', `${ENVELOPE_HEADERS.contentType} "${contentType}" is not ${PROTOBUF_CONTENT_TYPE}`);
  }

  return { id, type, schemaVersion, time, source: sourceText.of(headers) ?? '', contentType };
}
