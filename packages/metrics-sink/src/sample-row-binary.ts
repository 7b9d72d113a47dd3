// SampleCurated bodies read straight into the RowBinary of the samples table's payload columns: the sink lands
// one row per kept sample, and decoding a body into an object of a dozen strings only to encode those strings
// back into bytes for the INSERT was most of its CPU per row (tools/bench/events). The transcoder copies the
// strings' UTF-8 bytes as they are, in the table's column order, with the defaults decodeMessage and
// eventToRow give a missing field, and writes `extra` as the JSON text JSON.stringify gives. It gives up
// (undefined) on anything it does not expect — a known field with another wire type, groups, a truncated body,
// a repeated provenance, a string that is not valid UTF-8, an `extra` key whose place or presence in
// JavaScript's object differs from the wire (all digits: integer keys go first; a repeated key; `__proto__`)
// — and the sink then decodes the body as before, so every body lands as the generic path lands it
// (sample-row-binary.spec.ts compares both, byte for byte and in the real server).
import { isUtf8 } from 'node:buffer';
import { WIRE_GIVE_UP as GIVE_UP, WireReader } from '@select/contracts';
import { RowBinaryBytes, type ColumnType } from '@select/metrics';

/** The samples table's payload columns in table order with the types written here (migration 0001_samples). */
export const SAMPLE_PAYLOAD_TYPES: readonly ColumnType[] = [
  { name: 'shift_id', type: 'String' },
  { name: 'sample_id', type: 'String' },
  { name: 'strategy', type: 'String' },
  { name: 'class_index', type: 'Int32' },
  { name: 'wnid', type: 'String' },
  { name: 'source_id', type: 'String' },
  { name: 'score', type: 'Float64' },
  { name: 'shard', type: 'String' },
  { name: 'key', type: 'String' },
  { name: 'width', type: 'Int32' },
  { name: 'height', type: 'Int32' },
  { name: 'provenance_strategy', type: 'String' },
  { name: 'provenance_params_hash', type: 'String' },
  { name: 'provenance_source_id', type: 'String' },
  { name: 'provenance_score', type: 'Float64' },
  { name: 'provenance_model_ids', type: 'Array(String)' },
  { name: 'provenance_prompt', type: 'String' },
  { name: 'provenance_seed', type: 'Int64' },
  { name: 'provenance_extra', type: 'String' },
];

/** True when a table's payload column types (after the envelope columns) are the ones written here. */
export function samplePayloadTypesMatch(types: readonly ColumnType[]): boolean {
  return types.length === SAMPLE_PAYLOAD_TYPES.length && types.every((t, i) => t.name === SAMPLE_PAYLOAD_TYPES[i]?.name && t.type === SAMPLE_PAYLOAD_TYPES[i]?.type);
}

// Where each string of the body starts and ends (start -1: absent), by slot. Top level: fields 1, 2, 3, 5, 6, 8, 9;
// provenance: fields 1, 2, 3, 6.
const S_SAMPLE_ID = 0;
const S_SHIFT_ID = 1;
const S_STRATEGY = 2;
const S_WNID = 3;
const S_SOURCE_ID = 4;
const S_SHARD = 5;
const S_KEY = 6;
const S_P_STRATEGY = 7;
const S_P_PARAMS_HASH = 8;
const S_P_SOURCE_ID = 9;
const S_P_PROMPT = 10;
const SLOTS = 11;
const TOP_STRING_SLOT: readonly number[] = [-1, S_SAMPLE_ID, S_SHIFT_ID, S_STRATEGY, -1, S_WNID, S_SOURCE_ID, -1, S_SHARD, S_KEY];
const PROVENANCE_STRING_SLOT: readonly number[] = [-1, S_P_STRATEGY, S_P_PARAMS_HASH, S_P_SOURCE_ID, -1, -1, S_P_PROMPT];

/** The transcoder's state for one body; one instance, reused (the transcoder runs to the end synchronously). */
class Scan extends WireReader {
  readonly start = new Int32Array(SLOTS);
  readonly stop = new Int32Array(SLOTS);
  /** Model id spans: start, end, start, end, ... */
  models = new Int32Array(16);
  modelCount = 0;
  classIndex = 0;
  width = 0;
  height = 0;
  /** Positions of the 8 bytes of score and provenance.score (-1: absent). */
  scoreAt = -1;
  provenanceScoreAt = -1;
  provenance = false;
  /** `extra` entries: key start, key end, value start, value end (start -1: absent, the empty string). */
  extras = new Int32Array(32);
  extraCount = 0;

  reset(buf: Buffer): void {
    this.buf = buf;
    this.pos = 0;
    this.end = buf.length;
    this.start.fill(-1);
    this.modelCount = 0;
    this.classIndex = 0;
    this.width = 0;
    this.height = 0;
    this.scoreAt = -1;
    this.provenanceScoreAt = -1;
    this.provenance = false;
    // provenance.seed: int64() is read for it only, so `low` and `high` hold it (0 when absent)
    this.low = 0;
    this.high = 0;
    this.extraCount = 0;
  }

  /** Reads the field when `slots` maps its number to a string slot (true); otherwise leaves it to the caller. */
  stringField(field: number, wire: number, slots: readonly number[]): boolean {
    const slot = field < slots.length ? (slots[field] as number) : -1;
    if (slot < 0) return false;
    if (wire !== 2) throw GIVE_UP;
    this.start[slot] = this.delimited();
    this.stop[slot] = this.pos;
    return true;
  }

  body(): void {
    while (this.pos < this.end) {
      const tag = this.uint32();
      const field = tag >>> 3;
      const wire = tag & 7;
      if (this.stringField(field, wire, TOP_STRING_SLOT)) continue;
      switch (field) {
        case 0:
          throw GIVE_UP;
        case 4:
          if (wire !== 0) throw GIVE_UP;
          this.classIndex = this.uint32() | 0;
          break;
        case 7:
          if (wire !== 1) throw GIVE_UP;
          this.scoreAt = this.fixed64();
          break;
        case 10: {
          if (wire !== 2 || this.provenance) throw GIVE_UP;
          const start = this.delimited();
          this.provenanceFields(start, this.pos);
          break;
        }
        case 11:
          if (wire !== 0) throw GIVE_UP;
          this.width = this.uint32() | 0;
          break;
        case 12:
          if (wire !== 0) throw GIVE_UP;
          this.height = this.uint32() | 0;
          break;
        default:
          this.skip(wire);
      }
    }
  }

  /** One `extra` map entry (key 1, value 2; the last of each counts, as the decoder reads them). */
  private extraEntry(): void {
    const entryStart = this.delimited();
    const entryEnd = this.pos;
    const provenanceEnd = this.end;
    this.pos = entryStart;
    this.end = entryEnd;
    let keyStart = -1;
    let keyStop = -1;
    let valueStart = -1;
    let valueStop = -1;
    while (this.pos < entryEnd) {
      const tag = this.uint32();
      if (tag === 0x0a) {
        keyStart = this.delimited();
        keyStop = this.pos;
      } else if (tag === 0x12) {
        valueStart = this.delimited();
        valueStop = this.pos;
      } else if (tag >>> 3 === 1 || tag >>> 3 === 2) throw GIVE_UP;
      else this.skip(tag & 7);
    }
    this.end = provenanceEnd;
    const { buf } = this;
    if (keyStart >= 0 && keyStop > keyStart) {
      let digits = true;
      for (let i = keyStart; i < keyStop && digits; i++) digits = (buf[i] as number) >= 0x30 && (buf[i] as number) <= 0x39;
      if (digits) throw GIVE_UP;
      if (PROTO_KEY.equals(buf.subarray(keyStart, keyStop))) throw GIVE_UP;
    }
    const { extras } = this;
    for (let e = 0; e < 4 * this.extraCount; e += 4) {
      if (sameBytes(buf, keyStart, keyStop, extras[e] as number, extras[e + 1] as number)) throw GIVE_UP;
    }
    this.extras = withRoom(extras, 4 * this.extraCount + 4);
    const at = 4 * this.extraCount;
    this.extras[at] = keyStart;
    this.extras[at + 1] = keyStop;
    this.extras[at + 2] = valueStart;
    this.extras[at + 3] = valueStop;
    this.extraCount += 1;
  }

  private provenanceFields(start: number, end: number): void {
    this.provenance = true;
    const outerEnd = this.end;
    this.pos = start;
    this.end = end;
    while (this.pos < end) {
      const tag = this.uint32();
      const field = tag >>> 3;
      const wire = tag & 7;
      if (this.stringField(field, wire, PROVENANCE_STRING_SLOT)) continue;
      switch (field) {
        case 4:
          if (wire !== 1) throw GIVE_UP;
          this.provenanceScoreAt = this.fixed64();
          break;
        case 5: {
          if (wire !== 2) throw GIVE_UP;
          const modelStart = this.delimited();
          this.models = withRoom(this.models, 2 * this.modelCount + 2);
          this.models[2 * this.modelCount] = modelStart;
          this.models[2 * this.modelCount + 1] = this.pos;
          this.modelCount += 1;
          break;
        }
        case 7:
          if (wire !== 0) throw GIVE_UP;
          this.int64();
          break;
        case 8:
          if (wire !== 2) throw GIVE_UP;
          this.extraEntry();
          break;
        default:
          if (field === 0) throw GIVE_UP;
          this.skip(wire);
      }
    }
    this.end = outerEnd;
  }
}

/** `array`, or a copy twice as long when it holds fewer than `length` slots. */
function withRoom(array: Int32Array<ArrayBuffer>, length: number): Int32Array<ArrayBuffer> {
  if (length <= array.length) return array;
  const grown = new Int32Array(array.length * 2);
  grown.set(array);
  return grown;
}

/** True when the bytes of two spans are equal (absent: the empty string). */
function sameBytes(buf: Buffer, aStart: number, aStop: number, bStart: number, bStop: number): boolean {
  const length = aStart < 0 ? 0 : aStop - aStart;
  if (length !== (bStart < 0 ? 0 : bStop - bStart)) return false;
  for (let i = 0; i < length; i++) if (buf[aStart + i] !== buf[bStart + i]) return false;
  return true;
}

const PROTO_KEY = Buffer.from('__proto__');

const scan = new Scan(Buffer.alloc(0), 0);

const varUIntBytes = (n: number): number => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x20_0000 ? 3 : n < 0x1000_0000 ? 4 : 5);

/** RowBinary bytes of a span: LEB128 length, then the bytes (absent: the empty string). */
function spanBytes(start: number, stop: number): number {
  return start < 0 ? 1 : varUIntBytes(stop - start) + stop - start;
}

/** What JSON.stringify writes for a byte of a string: 0 copies it, else the escape (\\b \\t \\n \\f \\r \\" \\\\ or \\u00xx). */
const JSON_ESCAPE: readonly string[] = Array.from({ length: 256 }, (_, byte) =>
  byte < 0x20 || byte === 0x22 || byte === 0x5c ? JSON.stringify(String.fromCharCode(byte)).slice(1, -1) : '',
);
const JSON_ESCAPE_BYTES: readonly Buffer[] = JSON_ESCAPE.map((text) => Buffer.from(text, 'latin1'));

/** Length of a span's bytes inside a JSON string literal (quotes not counted). */
function jsonSpanLength(buf: Buffer, start: number, stop: number): number {
  let length = 0;
  for (let i = start; i < stop; i++) {
    const escape = JSON_ESCAPE[buf[i] as number] as string;
    length += escape === '' ? 1 : escape.length;
  }
  return length;
}

/** Length of JSON.stringify(extra) for the scanned entries: {"k":"v",...}. */
function extraJsonLength(s: Scan): number {
  const { extras, buf } = s;
  let length = 2 + Math.max(0, s.extraCount - 1);
  for (let e = 0; e < 4 * s.extraCount; e += 4) {
    length += 5;
    if ((extras[e] as number) >= 0) length += jsonSpanLength(buf, extras[e] as number, extras[e + 1] as number);
    if ((extras[e + 2] as number) >= 0) length += jsonSpanLength(buf, extras[e + 2] as number, extras[e + 3] as number);
  }
  return length;
}

class Writer {
  out: Buffer = Buffer.alloc(0);
  pos = 0;
  src: Buffer = Buffer.alloc(0);

  varUInt(value: number): void {
    let v = value;
    while (v >= 0x80) {
      this.out[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.out[this.pos++] = v;
  }

  /** The string's bytes as they are; gives up on bytes that are not UTF-8 (the generic path replaces those). */
  span(start: number, stop: number): void {
    if (start < 0) {
      this.out[this.pos++] = 0;
      return;
    }
    this.varUInt(stop - start);
    // Byte by byte: these strings are short, and Buffer.copy's call into C++ costs more than the loop.
    const { out, src } = this;
    let high = 0;
    let at = this.pos;
    for (let i = start; i < stop; i++) {
      const byte = src[i] as number;
      high |= byte;
      out[at++] = byte;
    }
    this.pos = at;
    if (high >= 0x80 && !isUtf8(src.subarray(start, stop))) throw GIVE_UP;
  }

  /** A span inside a JSON string literal, quotes included; gives up on bytes that are not UTF-8. */
  jsonString(start: number, stop: number): void {
    const { out, src } = this;
    out[this.pos++] = 0x22;
    let high = 0;
    for (let i = start; i < stop; i++) {
      const byte = src[i] as number;
      high |= byte;
      const escape = JSON_ESCAPE_BYTES[byte] as Buffer;
      if (escape.length === 0) out[this.pos++] = byte;
      else for (let j = 0; j < escape.length; j++) out[this.pos++] = escape[j] as number;
    }
    out[this.pos++] = 0x22;
    if (high >= 0x80 && !isUtf8(src.subarray(start, stop))) throw GIVE_UP;
  }

  /** provenance_extra: JSON.stringify of the entries, in wire order (the scan gave up where JavaScript's differs). */
  extraJson(s: Scan, length: number): void {
    this.varUInt(length);
    const { extras } = s;
    this.out[this.pos++] = 0x7b;
    for (let e = 0; e < 4 * s.extraCount; e += 4) {
      if (e > 0) this.out[this.pos++] = 0x2c;
      this.jsonString(extras[e] as number, extras[e + 1] as number);
      this.out[this.pos++] = 0x3a;
      this.jsonString(extras[e + 2] as number, extras[e + 3] as number);
    }
    this.out[this.pos++] = 0x7d;
  }

  int32(value: number): void {
    this.out.writeInt32LE(value, this.pos);
    this.pos += 4;
  }

  /** The 8 bytes at `at` of the source (a double as the body holds it), or `fallback` when absent. */
  double(at: number, fallback: number): void {
    const { out, src } = this;
    if (at < 0) out.writeDoubleLE(fallback, this.pos);
    else for (let i = 0; i < 8; i++) out[this.pos + i] = src[at + i] as number;
    this.pos += 8;
  }
}

const writer = new Writer();

/**
 * The RowBinary of a SampleCurated body's 19 payload columns (SAMPLE_PAYLOAD_TYPES, in that order), or undefined
 * when the body must be decoded the generic way (see the top of this file).
 */
export function transcodeSampleCurated(body: Buffer): RowBinaryBytes | undefined {
  const s = scan;
  try {
    s.reset(body);
    s.body();
    const { start, stop, models, modelCount } = s;
    const extraLength = extraJsonLength(s);
    let size = 3 * 4 + 2 * 8 + 8 + varUIntBytes(extraLength) + extraLength + varUIntBytes(modelCount);
    for (let slot = 0; slot < SLOTS; slot++) size += spanBytes(start[slot] as number, stop[slot] as number);
    for (let m = 0; m < 2 * modelCount; m += 2) size += spanBytes(models[m] as number, models[m + 1] as number);
    const w = writer;
    w.out = Buffer.allocUnsafe(size);
    w.pos = 0;
    w.src = body;
    w.span(start[S_SHIFT_ID] as number, stop[S_SHIFT_ID] as number);
    w.span(start[S_SAMPLE_ID] as number, stop[S_SAMPLE_ID] as number);
    w.span(start[S_STRATEGY] as number, stop[S_STRATEGY] as number);
    w.int32(s.classIndex);
    w.span(start[S_WNID] as number, stop[S_WNID] as number);
    w.span(start[S_SOURCE_ID] as number, stop[S_SOURCE_ID] as number);
    w.double(s.scoreAt, 0);
    w.span(start[S_SHARD] as number, stop[S_SHARD] as number);
    w.span(start[S_KEY] as number, stop[S_KEY] as number);
    w.int32(s.width);
    w.int32(s.height);
    w.span(start[S_P_STRATEGY] as number, stop[S_P_STRATEGY] as number);
    w.span(start[S_P_PARAMS_HASH] as number, stop[S_P_PARAMS_HASH] as number);
    w.span(start[S_P_SOURCE_ID] as number, stop[S_P_SOURCE_ID] as number);
    // NaN: no provenance (see eventToRow); a provenance without a score has 0.
    w.double(s.provenanceScoreAt, s.provenance ? 0 : Number.NaN);
    w.varUInt(modelCount);
    for (let m = 0; m < 2 * modelCount; m += 2) w.span(models[m] as number, models[m + 1] as number);
    w.span(start[S_P_PROMPT] as number, stop[S_P_PROMPT] as number);
    w.out.writeUInt32LE(s.low, w.pos);
    w.out.writeUInt32LE(s.high, w.pos + 4);
    w.pos += 8;
    w.extraJson(s, extraLength);
    if (w.pos !== size) throw new Error(`transcodeSampleCurated: wrote ${w.pos} of ${size} bytes`);
    return new RowBinaryBytes(w.out, SAMPLE_PAYLOAD_TYPES.length);
  } catch (err) {
    if (err === GIVE_UP) return undefined;
    throw err;
  } finally {
    writer.src = writer.out = s.buf = EMPTY;
  }
}

const EMPTY = Buffer.alloc(0);
