// Imported for its side effect, before anything loads kafkajs: gives kafkajs 2.2.4 a record decoder (Fetch
// responses, RecordBatch v2) that returns what its own returns at a fraction of the CPU. kafkajs' builds each
// record's headers by spreading the object once per header (`{ ...obj, [key]: value }`: six headers, six
// copies) and adds the offset and timestamp deltas through Long objects parsed from decimal strings; on the
// metrics sink that was a fifth of its CPU per event (tools/bench/events). Here headers go into one object
// (a repeated key becomes an array, as kafkajs does) and the arithmetic stays in doubles while the values are
// safe integers, with Long for the rest. Installed like kafkajs-grouping.ts: into Node's module cache under
// kafkajs' own file name, only when kafkajs has not loaded its decoder yet.
import { createRequire } from 'node:module';
import { preloadKafkajsModule } from './kafkajs-preload.js';
import { RepeatedText } from './repeated-text.js';

/** The part of kafkajs' protocol Decoder the record decoder uses. */
export interface KafkajsDecoder {
  buffer: Buffer;
  offset: number;
  readInt8(): number;
  readVarInt(): number;
  readVarLong(): { toString(): string; toNumber(): number; add(other: unknown): unknown };
  readVarIntString(): string | null;
  readVarIntBytes(): Buffer | null;
}

export interface BatchContext {
  firstOffset?: string;
  firstTimestamp?: string;
  magicByte?: number;
  isControlBatch?: boolean;
  timestampType?: number;
  maxTimestamp?: string;
  [key: string]: unknown;
}

const require = createRequire(import.meta.url);
const LOG_APPEND_TIME = 1;

interface LongClass {
  fromValue(value: unknown): { add(other: unknown): { toString(): string } };
}
let LongType: LongClass | undefined;
/** kafkajs' Long, loaded only for the rare value past 2^53. */
function long(): LongClass {
  LongType ??= require('kafkajs/src/utils/long.js') as LongClass;
  return LongType;
}

/**
 * A zigzag varlong as a double when it has at most 7 bytes (49 bits, exact); undefined (offset untouched) when
 * longer, for kafkajs' Long reader.
 */
function readSmallVarLong(decoder: KafkajsDecoder): number | undefined {
  const { buffer } = decoder;
  let at = decoder.offset;
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 7; i++) {
    const byte = buffer[at++];
    if (byte === undefined) return undefined;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      decoder.offset = at;
      return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
    }
    scale *= 128;
  }
  return undefined;
}

/** `base` (a decimal string) plus `delta`, as the decimal string kafkajs' Long gives. */
function addToDecimal(base: string | undefined, delta: number | { toString(): string }): string {
  if (typeof delta === 'number' && base !== undefined && base.length <= 15) {
    const sum = Number(base) + delta;
    if (Number.isSafeInteger(sum)) return String(sum);
  }
  return long().fromValue(base).add(typeof delta === 'number' ? long().fromValue(delta) : delta).toString();
}

type Headers = Record<string, Buffer | null | (Buffer | null)[]>;

// The last header name read at each header position: a topic's records carry the same names in the same order,
// and reusing the text saves a Buffer and a string per header (kafkajs slices the name out and decodes it every
// time).
const NAME_SLOTS = 16;
const slotNames = Array.from({ length: NAME_SLOTS }, () => new RepeatedText(48));

/** The header name at the decoder's position (kafkajs' readVarIntString; a null name reads as "null"). */
function readHeaderName(decoder: KafkajsDecoder, slot: number): string {
  const length = decoder.readVarInt();
  if (length === -1) return 'null';
  const { buffer } = decoder;
  const start = decoder.offset;
  // A truncated record: kafkajs decodes what is there (its slice ends at the buffer's end).
  const end = Math.min(start + length, buffer.length);
  decoder.offset = start + length;
  const names = slotNames[slot];
  return names === undefined ? buffer.toString('utf8', start, end) : names.decode(buffer, start, end);
}

/**
 * kafkajs' record decoder (recordBatch/record/v0/decoder.js): same fields, same values, same header merging,
 * except for a header named like a member of Object.prototype (`toString`, `__proto__`), which kafkajs merges
 * with the prototype's member (it tests `obj[key] === undefined`) and which is a plain header here.
 */
export function decodeRecord(decoder: KafkajsDecoder, batchContext: BatchContext = {}): Record<string, unknown> {
  const { firstOffset, firstTimestamp, magicByte, isControlBatch = false, timestampType, maxTimestamp } = batchContext;
  const attributes = decoder.readInt8();
  const timestampDelta = readSmallVarLong(decoder) ?? decoder.readVarLong();
  const timestamp =
    timestampType === LOG_APPEND_TIME && maxTimestamp ? maxTimestamp : addToDecimal(firstTimestamp, timestampDelta);
  const offset = addToDecimal(firstOffset, decoder.readVarInt());
  const key = decoder.readVarIntBytes();
  const value = decoder.readVarIntBytes();
  const headers: Headers = {};
  const count = decoder.readVarInt();
  for (let i = 0; i < count; i++) {
    const name = readHeaderName(decoder, i);
    const headerValue = decoder.readVarIntBytes();
    const known = Object.hasOwn(headers, name) ? headers[name] : undefined;
    const merged = known === undefined ? headerValue : Array.isArray(known) ? known.concat([headerValue]) : [known, headerValue];
    // `__proto__` as a computed key in kafkajs' literal is an own property; a plain store would set the prototype.
    if (name === '__proto__') Object.defineProperty(headers, name, { value: merged, enumerable: true, writable: true, configurable: true });
    else headers[name] = merged;
  }
  return {
    magicByte,
    attributes,
    timestamp,
    offset,
    key,
    value,
    headers,
    isControlRecord: isControlBatch,
    batchContext,
  };
}

/** Whether kafkajs in this process decodes fetched records with decodeRecord above. */
export const fastRecordDecoderInstalled: boolean = preloadKafkajsModule(
  'kafkajs/src/protocol/recordBatch/record/v0/decoder.js',
  ['kafkajs/src/protocol/recordBatch/v0/decoder.js'],
  decodeRecord,
);
