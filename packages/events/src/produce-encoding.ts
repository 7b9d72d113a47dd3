// A faster encoder for kafkajs' Produce requests (versions 3–7, record batch v2, no compression): the same
// bytes as kafkajs 2.2.4 writes, written straight into one buffer. kafkajs builds an Encoder object (and a
// Buffer) per record and per header, copies every record into its batch, and again into the request; at
// ~400-byte events that was about half of the producer's CPU (tools/bench/events). kafkajs keeps
// everything else: metadata, partitioning, idempotent sequence numbers, retries, the response.
//
// kafkajs has no hook for this, so installFastProduceEncoding() swaps the `protocol` lookup of its Produce
// request module (one property of a plain exported object; kafkajs asks it on every produce call). Requests
// this encoder does not cover (compression, message timestamps, array header values, versions outside 3–7)
// go to kafkajs' own encoder unchanged. produce-encoding.spec.ts checks the bytes against kafkajs' encoder.
import { createRequire } from 'node:module';
import { utf8ByteLength } from '@select/contracts';

const require = createRequire(import.meta.url);

/** A kafkajs message as this encoder takes it (kafkajs' `Message`, read loosely). */
interface ProduceMessage {
  key?: Buffer | string | null;
  value: Buffer | string | null;
  headers?: Record<string, unknown>;
  timestamp?: string | number;
  /** Its headers already in record layout around `encodedHeaderValue` (see EncodedHeaders). */
  encodedHeaders?: EncodedHeaders;
  encodedHeaderValue?: string;
}

/**
 * A message's record headers already in record layout, so that the encoder copies bytes instead of measuring and
 * writing every header name and value: `before` (the header count, the headers before the varying one, the varying
 * one's name), then the varying header's value — the message's `encodedHeaderValue`, an ASCII string, written as
 * its varint length and bytes — then `after` (the remaining headers). A producer builds one for many messages
 * (only the event id differs from event to event). The message must also carry the same headers as `headers`:
 * kafkajs' own encoder, which takes the requests this one does not cover, reads those. Make it with
 * encodeHeadersAround().
 */
export interface EncodedHeaders {
  readonly before: Uint8Array;
  readonly after: Uint8Array;
}

/** Bytes the encoded headers take in a record around `value`, the ASCII value of the varying header. */
export function encodedHeadersSize(encoded: EncodedHeaders, value: string): number {
  return encoded.before.length + varIntSize(value.length) + value.length + encoded.after.length;
}

/**
 * The EncodedHeaders of `before` headers, then one named `middleName` whose value each message gives, then the
 * `after` headers: the same bytes kafkajs writes for these headers in this order.
 */
export function encodeHeadersAround(
  before: readonly (readonly [string, string])[],
  middleName: string,
  after: readonly (readonly [string, string])[],
): EncodedHeaders {
  // Written into room for the worst case (3 UTF-8 bytes per UTF-16 unit, 5-byte varints), then cut to size.
  const section = (headers: readonly (readonly [string, string])[], count: number | undefined, lastName: string | undefined): Buffer => {
    let room = 5 + (lastName === undefined ? 0 : 5 + 3 * lastName.length);
    for (const [name, value] of headers) room += 10 + 3 * (name.length + value.length);
    const w = new Writer(Buffer.alloc(room));
    if (count !== undefined) w.varInt(count);
    for (const [name, value] of headers) {
      w.varBytes(name, utf8ByteLength(name));
      w.varBytes(value, utf8ByteLength(value));
    }
    if (lastName !== undefined) w.varBytes(lastName, utf8ByteLength(lastName));
    return Buffer.from(w.buf.subarray(0, w.offset));
  };
  return { before: section(before, before.length + 1 + after.length, middleName), after: section(after, undefined, undefined) };
}

interface PartitionData {
  partition: number;
  firstSequence?: number;
  messages: ProduceMessage[];
}

interface TopicData {
  topic: string;
  partitions: PartitionData[];
}

/** What kafkajs passes to a Produce request factory. */
export interface ProduceRequestArgs {
  acks: number;
  timeout: number;
  compression?: number;
  topicData: TopicData[];
  transactionalId?: string | null;
  producerId?: unknown;
  producerEpoch?: number;
}

interface KafkajsLong {
  getHighBits(): number;
  getLowBits(): number;
}

interface KafkajsEncoder {
  buf: Buffer;
  offset: number;
}

type RequestFactory = (args: ProduceRequestArgs) => { request: Record<string, unknown>; response: unknown };

interface ProduceModule {
  versions: string[];
  protocol: (opts: { version: number }) => RequestFactory;
}

const MAGIC_BYTE = 2;
const TRANSACTIONAL_ATTRIBUTE = 16;
const FIRST_FAST_VERSION = 3;
const LAST_FAST_VERSION = 7;

// ---- CRC-32C (Castagnoli) --------------------------------------------------------------------------------
// @node-rs/crc32's native crc32c (SSE 4.2 / ARM CRC instructions) where its prebuilt binary loads: the JS
// slicing-by-8 below was one of the largest items in CPU profiles of the producer (tools/bench/events). The JS
// version serves platforms without a binary, and checks the native one in the spec.

const CRC_TABLE = (() => {
  const table = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = table[n]!;
    for (let t = 1; t < 8; t++) {
      c = table[c & 0xff]! ^ (c >>> 8);
      table[t * 256 + n] = c;
    }
  }
  return table;
})();

/** CRC-32C of `buf[start, end)`, unsigned, in JS. */
export function crc32cJs(buf: Uint8Array, start = 0, end = buf.length): number {
  const t = CRC_TABLE;
  let crc = -1;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const lo = crc ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24));
    const hi = buf[i + 4]! | (buf[i + 5]! << 8) | (buf[i + 6]! << 16) | (buf[i + 7]! << 24);
    crc =
      t[1792 + (lo & 0xff)]! ^
      t[1536 + ((lo >>> 8) & 0xff)]! ^
      t[1280 + ((lo >>> 16) & 0xff)]! ^
      t[1024 + (lo >>> 24)]! ^
      t[768 + (hi & 0xff)]! ^
      t[512 + ((hi >>> 8) & 0xff)]! ^
      t[256 + ((hi >>> 16) & 0xff)]! ^
      t[hi >>> 24]!;
  }
  for (; i < end; i++) crc = t[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

type NativeCrc32c = (input: Buffer, initialState?: number) => number;

/** The native crc32c, or undefined where @node-rs/crc32 has no binary for this platform. */
export const nativeCrc32c: NativeCrc32c | undefined = (() => {
  try {
    const loaded = (require('@node-rs/crc32') as { crc32c?: NativeCrc32c }).crc32c;
    // A binary that loads but computes something else must not write batches the broker refuses.
    return loaded !== undefined && loaded(Buffer.from('123456789')) >>> 0 === 0xe3069283 ? loaded : undefined;
  } catch {
    return undefined;
  }
})();

/** CRC-32C of `buf[start, end)`, unsigned: native where available, else crc32cJs. */
export function crc32c(buf: Buffer, start = 0, end = buf.length): number {
  if (nativeCrc32c === undefined || end - start < 64) return crc32cJs(buf, start, end);
  return nativeCrc32c(buf.subarray(start, end)) >>> 0;
}

// ---- sizes --------------------------------------------------------------------------------------------

/** Bytes of a zig-zag varint (Kafka's `varint`) of a 32-bit value. */
function varIntSize(value: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0;
  let bytes = 1;
  while (v >= 0x80) {
    v >>>= 7;
    bytes += 1;
  }
  return bytes;
}

/**
 * Byte lengths measured in the first pass and read back in the second, in the order the writer meets them:
 * per record its body size, key, value, header count, then name and value of each header (-1: null). One
 * array reused by every request: encoding is synchronous.
 */
let lengths = new Int32Array(1 << 16);
let lengthCount = 0;

function pushLength(length: number): void {
  if (lengthCount === lengths.length) {
    const grown = new Int32Array(lengths.length * 2);
    grown.set(lengths);
    lengths = grown;
  }
  lengths[lengthCount++] = length;
}

function nullableLength(value: unknown): number {
  if (value === null || value === undefined) return -1;
  return Buffer.isBuffer(value) ? value.length : utf8ByteLength(typeof value === 'string' ? value : String(value));
}

const varBytesSize = (length: number): number => (length < 0 ? 1 : varIntSize(length) + length);

// The last name and string value measured at each header position, with their UTF-8 lengths: an event's
// headers come in the same order every time and all but event-id repeat (often the very same string), so a
// comparison replaces most measurements. Strings are immutable: an equal string has the same length.
const HEADER_SLOTS = 16;
const slotNames: (string | undefined)[] = new Array<string | undefined>(HEADER_SLOTS).fill(undefined);
const slotNameLengths = new Int32Array(HEADER_SLOTS);
const slotValues: (string | undefined)[] = new Array<string | undefined>(HEADER_SLOTS).fill(undefined);
const slotValueLengths = new Int32Array(HEADER_SLOTS);

function headerNameLength(slot: number, name: string): number {
  if (slot >= HEADER_SLOTS) return utf8ByteLength(name);
  if (slotNames[slot] === name) return slotNameLengths[slot]!;
  const length = utf8ByteLength(name);
  slotNames[slot] = name;
  slotNameLengths[slot] = length;
  return length;
}

function headerValueLength(slot: number, value: unknown): number {
  if (typeof value !== 'string' || slot >= HEADER_SLOTS) return nullableLength(value);
  if (slotValues[slot] === value) return slotValueLengths[slot]!;
  const length = utf8ByteLength(value);
  slotValues[slot] = value;
  slotValueLengths[slot] = length;
  return length;
}

/**
 * Measures one record into `lengths`; returns its size in the batch (length varint included), or -1 when
 * kafkajs' encoder must take the request (a timestamp, a header with several values).
 */
function measure(message: ProduceMessage, offsetDelta: number): number {
  if (message.timestamp !== undefined && message.timestamp !== null) return -1;
  const bodyAt = lengthCount;
  pushLength(0); // the body size, filled in below
  const keyLength = nullableLength(message.key);
  const valueLength = nullableLength(message.value);
  pushLength(keyLength);
  pushLength(valueLength);
  // attributes (1) + timestampDelta 0 (1) + offsetDelta
  let body = 2 + varIntSize(offsetDelta) + varBytesSize(keyLength) + varBytesSize(valueLength);
  const encoded = message.encodedHeaders;
  if (encoded !== undefined) {
    body += encodedHeadersSize(encoded, message.encodedHeaderValue!);
    lengths[bodyAt] = body;
    return varIntSize(body) + body;
  }
  const countAt = lengthCount;
  pushLength(0); // the header count, filled in below
  let count = 0;
  const headers = message.headers;
  if (headers !== undefined) {
    for (const name in headers) {
      if (!Object.hasOwn(headers, name)) continue; // as Object.keys, which kafkajs uses
      const raw = headers[name];
      if (Array.isArray(raw)) return -1;
      const nameLength = headerNameLength(count, name);
      const length = headerValueLength(count, raw);
      pushLength(nameLength);
      pushLength(length);
      body += varIntSize(nameLength) + nameLength + varBytesSize(length);
      count += 1;
    }
  }
  body += varIntSize(count);
  lengths[countAt] = count;
  lengths[bodyAt] = body;
  return varIntSize(body) + body;
}

// ---- writing ------------------------------------------------------------------------------------------

class Writer {
  offset = 0;
  constructor(readonly buf: Buffer) {}

  int8(value: number): void {
    this.buf[this.offset++] = value & 0xff;
  }

  int16(value: number): void {
    this.buf.writeInt16BE(value, this.offset);
    this.offset += 2;
  }

  int32(value: number): void {
    this.buf.writeInt32BE(value, this.offset);
    this.offset += 4;
  }

  int64(high: number, low: number): void {
    this.buf.writeInt32BE(high, this.offset);
    this.buf.writeInt32BE(low, this.offset + 4);
    this.offset += 8;
  }

  varInt(value: number): void {
    let v = ((value << 1) ^ (value >> 31)) >>> 0;
    while (v >= 0x80) {
      this.buf[this.offset++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.offset++] = v;
  }

  /** Raw bytes of a string (UTF-8) or Buffer whose byte length is known. */
  bytes(value: Buffer | string, length: number): void {
    const buf = this.buf;
    // Uint8Array's set: the same bytes as Buffer.copy, without its argument checks.
    if (typeof value !== 'string') buf.set(value, this.offset);
    else if (length === value.length && length <= 64) {
      // ASCII: a loop beats a call into C++ for a short string.
      for (let i = 0, at = this.offset; i < length; i++) buf[at + i] = value.charCodeAt(i);
    } else buf.write(value, this.offset, length, 'utf8');
    this.offset += length;
  }

  /** Kafka STRING / NULLABLE_STRING: int16 length, UTF-8 bytes. */
  string(value: string | null | undefined): void {
    if (value === null || value === undefined) {
      this.int16(-1);
      return;
    }
    const length = Buffer.byteLength(value, 'utf8');
    this.int16(length);
    this.bytes(value, length);
  }

  /** varint length (-1 for null), then the bytes (a value neither string nor Buffer as String(value)). */
  varBytes(value: unknown, length: number): void {
    this.varInt(length);
    if (length > 0) this.bytes(Buffer.isBuffer(value) ? value : typeof value === 'string' ? value : String(value), length);
  }
}

const int64Parts = (() => {
  let Long: { fromValue(value: unknown): KafkajsLong } | undefined;
  return (value: unknown): [number, number] => {
    if (value === undefined || value === null) return [-1, -1];
    Long ??= require('kafkajs/src/utils/long.js') as { fromValue(value: unknown): KafkajsLong };
    const long = Long.fromValue(value);
    return [long.getHighBits(), long.getLowBits()];
  };
})();

const RECORD_BATCH_OVERHEAD = 61; // firstOffset 8, length 4, leader epoch 4, magic 1, crc 4, attributes 2, lastOffsetDelta 4, 3 x int64 24, epoch 2, sequence 4, count 4

/** Writes one partition's record batch; `at` is where its lengths start in `lengths`. */
function writeRecordBatch(
  w: Writer,
  messages: ProduceMessage[],
  at: number,
  batchSize: number,
  now: [number, number],
  producerId: [number, number],
  producerEpoch: number,
  firstSequence: number,
  transactional: boolean,
): number {
  w.int64(0, 0); // firstOffset
  w.int32(batchSize - 12); // length of what follows
  w.int32(0); // partitionLeaderEpoch
  w.int8(MAGIC_BYTE);
  const crcAt = w.offset;
  w.offset += 4;
  const bodyStart = w.offset;
  w.int16(transactional ? TRANSACTIONAL_ATTRIBUTE : 0);
  w.int32(messages.length - 1); // lastOffsetDelta
  w.int64(now[0], now[1]); // firstTimestamp
  w.int64(now[0], now[1]); // maxTimestamp
  w.int64(producerId[0], producerId[1]);
  w.int16(producerEpoch);
  w.int32(firstSequence);
  w.int32(messages.length);
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!;
    w.varInt(lengths[at++]!); // body size
    w.int8(0); // attributes
    w.int8(0); // timestampDelta: varlong 0
    w.varInt(i); // offsetDelta
    w.varBytes(message.key, lengths[at++]!);
    w.varBytes(message.value, lengths[at++]!);
    const encoded = message.encodedHeaders;
    if (encoded !== undefined) {
      const middle = message.encodedHeaderValue!;
      w.buf.set(encoded.before, w.offset);
      w.offset += encoded.before.length;
      w.varBytes(middle, middle.length);
      w.buf.set(encoded.after, w.offset);
      w.offset += encoded.after.length;
      continue;
    }
    w.varInt(lengths[at++]!); // header count
    const headers = message.headers;
    if (headers !== undefined) {
      for (const name in headers) {
        if (!Object.hasOwn(headers, name)) continue;
        w.varBytes(name, lengths[at++]!);
        w.varBytes(headers[name], lengths[at++]!);
      }
    }
  }
  w.buf.writeUInt32BE(crc32c(w.buf, bodyStart, w.offset), crcAt);
  return at;
}

/**
 * The body of a Produce request (v3–v7 share it) as kafkajs 2.2.4 writes it, or undefined when the request
 * needs kafkajs' own encoder: compression, a message with a timestamp, a header with several values.
 * `nowMs` is the batch timestamp kafkajs takes from Date.now().
 */
export function encodeProduceRequest(args: ProduceRequestArgs, nowMs: number = Date.now()): Buffer | undefined {
  if ((args.compression ?? 0) !== 0) return undefined;
  lengthCount = 0;
  let size = 2 + 2 + 4 + 4; // transactional id (null: -1), acks, timeout, topic count
  if (args.transactionalId !== null && args.transactionalId !== undefined) size += Buffer.byteLength(args.transactionalId, 'utf8');
  const batchSizes: number[] = [];
  for (const topic of args.topicData) {
    size += 2 + Buffer.byteLength(topic.topic, 'utf8') + 4;
    for (const partition of topic.partitions) {
      let batchSize = RECORD_BATCH_OVERHEAD;
      for (let i = 0; i < partition.messages.length; i++) {
        const recordSize = measure(partition.messages[i]!, i);
        if (recordSize < 0) return undefined;
        batchSize += recordSize;
      }
      batchSizes.push(batchSize);
      size += 8 + batchSize;
    }
  }
  const high = Math.floor(nowMs / 0x1_0000_0000);
  const now: [number, number] = [high, (nowMs - high * 0x1_0000_0000) | 0];
  const producerId = int64Parts(args.producerId);
  const transactional = Boolean(args.transactionalId);
  const w = new Writer(Buffer.allocUnsafe(size));
  w.string(args.transactionalId ?? null);
  w.int16(args.acks);
  w.int32(args.timeout);
  w.int32(args.topicData.length);
  let at = 0;
  let batch = 0;
  for (const topic of args.topicData) {
    w.string(topic.topic);
    w.int32(topic.partitions.length);
    for (const partition of topic.partitions) {
      const batchSize = batchSizes[batch++]!;
      w.int32(partition.partition);
      w.int32(batchSize);
      at = writeRecordBatch(w, partition.messages, at, batchSize, now, producerId, args.producerEpoch ?? 0, partition.firstSequence ?? 0, transactional);
    }
  }
  if (w.offset !== size || at !== lengthCount) throw new Error(`produce request: wrote ${w.offset} bytes, measured ${size}`);
  return w.buf;
}

let installed: boolean | undefined;

/**
 * Makes kafkajs encode the Produce requests it can with encodeProduceRequest; once per process, for every
 * kafkajs client in it (the bytes are the same). Returns false, changing nothing, when the installed kafkajs
 * does not have the shape this was written against.
 */
export function installFastProduceEncoding(): boolean {
  if (installed !== undefined) return installed;
  installed = false;
  let produce: ProduceModule;
  let Encoder: new (initialSize?: number) => KafkajsEncoder;
  try {
    produce = require('kafkajs/src/protocol/requests/produce/index.js') as ProduceModule;
    Encoder = require('kafkajs/src/protocol/encoder.js') as typeof Encoder;
  } catch {
    return false;
  }
  if (typeof produce.protocol !== 'function' || !Array.isArray(produce.versions)) return false;
  const original = produce.protocol;
  produce.protocol = ({ version }) => {
    const kafkajsFactory = original({ version });
    if (version < FIRST_FAST_VERSION || version > LAST_FAST_VERSION) return kafkajsFactory;
    return (args) => {
      const kafkajs = kafkajsFactory(args);
      return {
        response: kafkajs.response,
        request: {
          ...kafkajs.request,
          encode: async () => {
            const body = encodeProduceRequest(args);
            if (body === undefined) return (kafkajs.request.encode as () => Promise<unknown>)();
            const encoder = new Encoder(0);
            encoder.buf = body;
            encoder.offset = body.length;
            return encoder;
          },
        },
      };
    };
  };
  installed = true;
  return true;
}
