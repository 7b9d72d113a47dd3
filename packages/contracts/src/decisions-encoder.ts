// A direct encoder for select.events.v1.CandidateDecisions, the one event a curation build sends per ~500
// candidates (a million candidates: 2,000 events, 1,000,000 nested decisions). protobufjs's generic path
// makes a message object per decision (fromObject), verifies it and queues an operation object per field
// in its writer before writing anything: ~0.5 µs and ~10 short-lived objects a decision, whose collection
// then runs on the worker's GC threads too. This writes the same bytes in two passes over the plain
// payload (sizes, then one buffer) and allocates only the buffer.
//
// Byte for byte what protobufjs writes (decisions-encoder.spec.ts compares them): fields in field-number
// order, a field written whenever its value is present (not null or undefined), even at its default;
// strings measured as Buffer.byteLength counts (utf8ByteLength) and written as protobufjs's Node writer does. Any value of a
// type the generic path would convert (a seed as a decimal string or Long, a score as a string, ...)
// makes this return undefined, and encodeMessage takes the generic path, which converts, verifies and
// reports errors as before.
import protobuf from 'protobufjs';
import { utf8ByteLength } from './utf8-length.js';

const { utf8 } = protobuf.util;

/**
 * The fields this encoder writes, per message type, as `name:number:type` in field-number order (`*`:
 * repeated). encodeMessage uses the encoder only while the loaded proto has exactly these fields, so a
 * field added to the proto and not here cannot be dropped silently: the generic path takes over.
 */
export const DECISIONS_ENCODER_LAYOUT: Readonly<Record<string, string>> = {
  'select.events.v1.CandidateDecisions': 'shiftId:1:string decisions:2:CandidateDecision* strategy:3:string source:4:string taskId:5:string step:6:string',
  'select.events.v1.CandidateDecision':
    'shiftId:1:string sourceId:2:string seed:3:int64 step:4:string stage:5:uint32 kept:6:bool reason:7:string score:8:float classIndex:9:int32 strategy:10:string source:11:string taskId:12:string',
};

/** A message type's fields in the form of DECISIONS_ENCODER_LAYOUT. */
export function fieldLayout(type: protobuf.Type): string {
  return [...type.fieldsArray]
    .sort((a, b) => a.id - b.id)
    .map((f) => `${f.name}:${f.id}:${f instanceof protobuf.MapField ? `map<${f.keyType},${f.type}>` : f.type}${f.repeated ? '*' : ''}`)
    .join(' ');
}

/** What this encoder reads: the payload shape proto-loader's types describe, restricted to plain JS values. */
interface DecisionFields {
  shiftId?: unknown;
  sourceId?: unknown;
  seed?: unknown;
  step?: unknown;
  stage?: unknown;
  kept?: unknown;
  reason?: unknown;
  score?: unknown;
  classIndex?: unknown;
  strategy?: unknown;
  source?: unknown;
  taskId?: unknown;
}

interface BatchFields {
  shiftId?: unknown;
  decisions?: unknown;
  strategy?: unknown;
  source?: unknown;
  taskId?: unknown;
  step?: unknown;
}

export const present = (value: unknown): boolean => value !== undefined && value !== null;

export function varintSize(value: number): number {
  // value is an unsigned 32-bit integer here.
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5;
}

/** Bytes of a non-negative safe integer as a varint. */
export function varint64Size(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

/** Bytes of an int32 field's value: a negative one is sign-extended to ten bytes. */
export const int32Size = (value: number): number => (value < 0 ? 10 : varintSize(value));

/** Size of an optional string field (tag included): 0 when absent, -1 when not a string. */
export function stringFieldSize(value: unknown): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'string') return -1;
  const length = utf8ByteLength(value);
  return 1 + varintSize(length) + length;
}

/** Encoded size of one decision (without its own tag and length), or -1 when a value needs the generic path. */
function decisionSize(d: DecisionFields): number {
  // Written out rather than looped over an array of the values: this runs once per decision.
  const shiftId = stringFieldSize(d.shiftId);
  const sourceId = stringFieldSize(d.sourceId);
  const step = stringFieldSize(d.step);
  const reason = stringFieldSize(d.reason);
  const strategy = stringFieldSize(d.strategy);
  const source = stringFieldSize(d.source);
  const taskId = stringFieldSize(d.taskId);
  if (shiftId < 0 || sourceId < 0 || step < 0 || reason < 0 || strategy < 0 || source < 0 || taskId < 0) return -1;
  let size = shiftId + sourceId + step + reason + strategy + source + taskId;
  if (present(d.seed)) {
    const seed = d.seed;
    if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) return -1;
    size += 1 + varint64Size(seed);
  }
  if (present(d.stage)) {
    if (typeof d.stage !== 'number') return -1;
    size += 1 + varintSize(d.stage >>> 0);
  }
  if (present(d.kept)) {
    if (typeof d.kept !== 'boolean') return -1;
    size += 2;
  }
  if (present(d.score)) {
    if (typeof d.score !== 'number') return -1;
    size += 5;
  }
  if (present(d.classIndex)) {
    if (typeof d.classIndex !== 'number') return -1;
    size += 1 + int32Size(d.classIndex | 0);
  }
  return size;
}

export class ByteWriter {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  varint(value: number): void {
    // value: unsigned 32-bit.
    while (value > 127) {
      this.buf[this.pos++] = (value & 127) | 128;
      value >>>= 7;
    }
    this.buf[this.pos++] = value;
  }

  /** A non-negative safe integer as a varint. */
  varint64(value: number): void {
    while (value >= 0x80) {
      this.buf[this.pos++] = (value % 128) | 128;
      value = Math.floor(value / 128);
    }
    this.buf[this.pos++] = value;
  }

  int32(value: number): void {
    if (value >= 0) {
      this.varint(value);
      return;
    }
    // Ten bytes: the 64-bit two's complement, as protobuf writes a negative int32.
    let low = value >>> 0;
    for (let i = 0; i < 4; i++) {
      this.buf[this.pos++] = (low & 127) | 128;
      low >>>= 7;
    }
    // Bits 28-31 of the low word, then 32-34 of the (all ones) high word.
    this.buf[this.pos++] = ((low & 15) | 0x70) | 128;
    for (let i = 0; i < 4; i++) this.buf[this.pos++] = 0xff;
    this.buf[this.pos++] = 0x01;
  }

  string(tag: number, value: unknown): void {
    if (typeof value !== 'string') return;
    const buf = this.buf;
    buf[this.pos++] = tag;
    // The bytes go first, after room for a one-byte length, and the write tells their length (the size pass
    // measured every string already: measuring again here was a second pass over each). A length of 128 bytes or
    // more needs a longer varint: the bytes move up by the difference, within the room the size pass gave them.
    // As protobufjs's Node writer: its own UTF-8 loop for short strings, Buffer's for longer ones.
    const at = this.pos + 1;
    const length = value.length < 40 ? utf8.write(value, buf, at) : buf.write(value, at, 'utf8');
    if (length > 127) buf.copyWithin(at + varintSize(length) - 1, at, at + length);
    this.varint(length);
    this.pos += length;
  }
}

/**
 * The CandidateDecisions payload as protobuf bytes, or undefined when a value is not a plain string,
 * number or boolean where the field wants one (the caller then takes protobufjs's generic path).
 */
export function encodeCandidateDecisions(payload: object): Buffer | undefined {
  const p = payload as BatchFields;
  let size = 0;
  for (const value of [p.shiftId, p.strategy, p.source, p.taskId, p.step]) {
    const field = stringFieldSize(value);
    if (field < 0) return undefined;
    size += field;
  }
  const decisions = p.decisions;
  if (present(decisions) && !Array.isArray(decisions)) return undefined;
  const list = (decisions ?? []) as unknown[];
  const lengths = new Array<number>(list.length);
  for (let i = 0; i < list.length; i++) {
    const d = list[i];
    if (typeof d !== 'object' || d === null) return undefined;
    const length = decisionSize(d as DecisionFields);
    if (length < 0) return undefined;
    lengths[i] = length;
    size += 1 + varintSize(length) + length;
  }
  const w = new ByteWriter(Buffer.allocUnsafe(size));
  w.string(0x0a, p.shiftId);
  for (let i = 0; i < list.length; i++) {
    const d = list[i] as DecisionFields;
    w.buf[w.pos++] = 0x12;
    w.varint(lengths[i]!);
    w.string(0x0a, d.shiftId);
    w.string(0x12, d.sourceId);
    if (present(d.seed)) {
      w.buf[w.pos++] = 0x18;
      w.varint64(d.seed as number);
    }
    w.string(0x22, d.step);
    if (present(d.stage)) {
      w.buf[w.pos++] = 0x28;
      w.varint((d.stage as number) >>> 0);
    }
    if (present(d.kept)) {
      w.buf[w.pos++] = 0x30;
      w.buf[w.pos++] = d.kept ? 1 : 0;
    }
    w.string(0x3a, d.reason);
    if (present(d.score)) {
      w.buf[w.pos++] = 0x45;
      w.buf.writeFloatLE(d.score as number, w.pos);
      w.pos += 4;
    }
    if (present(d.classIndex)) {
      w.buf[w.pos++] = 0x48;
      w.int32((d.classIndex as number) | 0);
    }
    w.string(0x52, d.strategy);
    w.string(0x5a, d.source);
    w.string(0x62, d.taskId);
  }
  w.string(0x1a, p.strategy);
  w.string(0x22, p.source);
  w.string(0x2a, p.taskId);
  w.string(0x32, p.step);
  if (w.pos !== size) throw new Error(`CandidateDecisions encoder wrote ${w.pos} of ${size} bytes`);
  return w.buf;
}
