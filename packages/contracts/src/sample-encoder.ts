// A direct encoder for select.events.v1.SampleCurated, the event a shift build sends for every sample it
// keeps (a shift of a million samples: a million events). protobufjs's generic path converts the payload
// into message objects (fromObject), verifies them and queues an operation object per field before writing
// (~3.5 µs and ~20 short-lived objects an event, tools/bench/events); this measures the plain payload, then
// writes one buffer, like decisions-encoder.ts, whose rules and writer it shares: the bytes protobufjs
// writes (sample-encoder.spec.ts compares them), a field written whenever present (not null or undefined),
// and undefined returned for any value the generic path would have to convert (a number as a string, a
// seed beyond 2^63, ...), which then goes the generic way.
import { ByteWriter, int32Size, present, stringFieldSize, varint64Size, varintSize } from './decisions-encoder.js';

/** The fields this encoder writes, in the form of DECISIONS_ENCODER_LAYOUT (see there). */
export const SAMPLE_ENCODER_LAYOUT: Readonly<Record<string, string>> = {
  'select.events.v1.SampleCurated':
    'sampleId:1:string shiftId:2:string strategy:3:string classIndex:4:int32 wnid:5:string sourceId:6:string score:7:double shard:8:string key:9:string provenance:10:select.common.v1.Provenance width:11:int32 height:12:int32',
  'select.common.v1.Provenance':
    'strategy:1:string paramsHash:2:string sourceId:3:string score:4:double modelIds:5:string* prompt:6:string seed:7:int64 extra:8:map<string,string>',
};

interface SampleFields {
  sampleId?: unknown;
  shiftId?: unknown;
  strategy?: unknown;
  classIndex?: unknown;
  wnid?: unknown;
  sourceId?: unknown;
  score?: unknown;
  shard?: unknown;
  key?: unknown;
  provenance?: unknown;
  width?: unknown;
  height?: unknown;
}

interface ProvenanceFields {
  strategy?: unknown;
  paramsHash?: unknown;
  sourceId?: unknown;
  score?: unknown;
  modelIds?: unknown;
  prompt?: unknown;
  seed?: unknown;
  extra?: unknown;
}

const INT64_MAX = (1n << 63n) - 1n;
const DECIMAL = /^(0|[1-9][0-9]{0,18})$/;

/** A non-negative int64 seed as a safe integer or bigint, or undefined when the generic path must convert it. */
function seedValue(seed: unknown): number | bigint | undefined {
  if (typeof seed === 'number') return Number.isSafeInteger(seed) && seed >= 0 ? seed : undefined;
  if (typeof seed !== 'string' || !DECIMAL.test(seed)) return undefined;
  const value = BigInt(seed);
  if (value > INT64_MAX) return undefined;
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

function bigVarintSize(value: bigint): number {
  let size = 1;
  while (value >= 0x80n) {
    value >>= 7n;
    size++;
  }
  return size;
}

/** Size of an int32 field (tag included) as fromObject converts it (`| 0`); -1 when not a number. */
function int32FieldSize(value: unknown): number {
  if (!present(value)) return 0;
  if (typeof value !== 'number') return -1;
  return 1 + int32Size(value | 0);
}

function doubleFieldSize(value: unknown): number {
  if (!present(value)) return 0;
  return typeof value === 'number' ? 9 : -1;
}

/** Encoded size of a Provenance (without its tag and length), or -1 when a value needs the generic path. */
function provenanceSize(p: ProvenanceFields, seed: number | bigint | undefined): number {
  const strings = [p.strategy, p.paramsHash, p.sourceId, p.prompt];
  let size = 0;
  for (const value of strings) {
    const field = stringFieldSize(value);
    if (field < 0) return -1;
    size += field;
  }
  const score = doubleFieldSize(p.score);
  if (score < 0) return -1;
  size += score;
  if (present(p.modelIds)) {
    if (!Array.isArray(p.modelIds)) return -1;
    for (const id of p.modelIds as unknown[]) {
      if (typeof id !== 'string') return -1;
      size += stringFieldSize(id);
    }
  }
  if (present(p.seed)) {
    if (seed === undefined) return -1;
    size += 1 + (typeof seed === 'bigint' ? bigVarintSize(seed) : varint64Size(seed));
  }
  if (present(p.extra)) {
    if (typeof p.extra !== 'object' || Array.isArray(p.extra)) return -1;
    const extra = p.extra as Record<string, unknown>;
    for (const name of Object.keys(extra)) {
      const value = extra[name];
      if (typeof value !== 'string') return -1;
      const entry = stringFieldSize(name) + stringFieldSize(value);
      size += 1 + varintSize(entry) + entry;
    }
  }
  return size;
}

function writeInt32Field(w: ByteWriter, tag: number, value: unknown): void {
  if (!present(value)) return;
  w.buf[w.pos++] = tag;
  w.int32((value as number) | 0);
}

function writeDoubleField(w: ByteWriter, tag: number, value: unknown): void {
  if (!present(value)) return;
  w.buf[w.pos++] = tag;
  w.buf.writeDoubleLE(value as number, w.pos);
  w.pos += 8;
}

/**
 * The SampleCurated payload as protobuf bytes, or undefined when a value is not the plain string, number,
 * array or object its field wants (the caller then takes protobufjs's generic path).
 */
export function encodeSampleCurated(payload: object): Buffer | undefined {
  const s = payload as SampleFields;
  let size = 0;
  for (const value of [s.sampleId, s.shiftId, s.strategy, s.wnid, s.sourceId, s.shard, s.key]) {
    const field = stringFieldSize(value);
    if (field < 0) return undefined;
    size += field;
  }
  for (const field of [int32FieldSize(s.classIndex), int32FieldSize(s.width), int32FieldSize(s.height), doubleFieldSize(s.score)]) {
    if (field < 0) return undefined;
    size += field;
  }
  let provenance: ProvenanceFields | undefined;
  let seed: number | bigint | undefined;
  let provenanceLength = 0;
  if (present(s.provenance)) {
    if (typeof s.provenance !== 'object' || Array.isArray(s.provenance)) return undefined;
    provenance = s.provenance as ProvenanceFields;
    seed = present(provenance.seed) ? seedValue(provenance.seed) : undefined;
    provenanceLength = provenanceSize(provenance, seed);
    if (provenanceLength < 0) return undefined;
    size += 1 + varintSize(provenanceLength) + provenanceLength;
  }
  const w = new ByteWriter(Buffer.allocUnsafe(size));
  w.string(0x0a, s.sampleId);
  w.string(0x12, s.shiftId);
  w.string(0x1a, s.strategy);
  writeInt32Field(w, 0x20, s.classIndex);
  w.string(0x2a, s.wnid);
  w.string(0x32, s.sourceId);
  writeDoubleField(w, 0x39, s.score);
  w.string(0x42, s.shard);
  w.string(0x4a, s.key);
  if (provenance !== undefined) {
    w.buf[w.pos++] = 0x52;
    w.varint(provenanceLength);
    w.string(0x0a, provenance.strategy);
    w.string(0x12, provenance.paramsHash);
    w.string(0x1a, provenance.sourceId);
    writeDoubleField(w, 0x21, provenance.score);
    if (present(provenance.modelIds)) for (const id of provenance.modelIds as string[]) w.string(0x2a, id);
    w.string(0x32, provenance.prompt);
    if (seed !== undefined) {
      w.buf[w.pos++] = 0x38;
      if (typeof seed === 'number') w.varint64(seed);
      else {
        let value = seed;
        while (value >= 0x80n) {
          w.buf[w.pos++] = Number(value & 0x7fn) | 0x80;
          value >>= 7n;
        }
        w.buf[w.pos++] = Number(value);
      }
    }
    if (present(provenance.extra)) {
      const extra = provenance.extra as Record<string, string>;
      for (const name of Object.keys(extra)) {
        w.buf[w.pos++] = 0x42;
        w.varint(stringFieldSize(name) + stringFieldSize(extra[name]));
        w.string(0x0a, name);
        w.string(0x12, extra[name]);
      }
    }
  }
  writeInt32Field(w, 0x58, s.width);
  writeInt32Field(w, 0x60, s.height);
  if (w.pos !== size) throw new Error(`SampleCurated encoder wrote ${w.pos} of ${size} bytes`);
  return w.buf;
}
