// A direct decoder for select.events.v1.SampleCurated into the `__Output` shape decodeMessage gives (what
// protobufjs's decode + toObject({ longs: String, enums: String, defaults: true }) make), for the sink, which
// reads one per kept sample. protobufjs builds a message object per level and then converts it into a second
// one (~3.8 µs an event, tools/bench/events); this reads the bytes once into the output object. Anything it
// does not expect (a field of a known number with another wire type, groups, a truncated body) makes it
// return undefined, and decodeMessage takes protobufjs's path, which reads or rejects it as before
// (sample-decoder.spec.ts compares both on random and damaged bodies).
import type { SampleCurated__Output } from './generated/select/events/v1/SampleCurated.js';
import type { Provenance__Output } from './generated/select/common/v1/Provenance.js';
import { WIRE_GIVE_UP as GIVE_UP, WireReader } from './wire-reader.js';

interface Utf8Slicer {
  utf8Slice(start: number, end: number): string;
}

class Reader extends WireReader {
  /** A varint int64 as its signed decimal string, as Long.toString gives it. */
  int64String(): string {
    this.int64();
    const { low, high } = this;
    if (high < 0x200000) return String(high * 0x1_0000_0000 + low);
    return BigInt.asIntN(64, (BigInt(high) << 32n) | BigInt(low)).toString();
  }

  string(): string {
    const start = this.delimited();
    // Buffer's own utf8Slice (what toString('utf8', ...) calls after checking its arguments; protobufjs's
    // Node reader calls it too): the same string, without the checks.
    return (this.buf as unknown as Utf8Slicer).utf8Slice(start, this.pos);
  }

  double(): number {
    return this.buf.readDoubleLE(this.fixed64());
  }
}

function expectWire(tag: number, wireType: number): void {
  if ((tag & 7) !== wireType) throw GIVE_UP;
}

function readProvenance(r: Reader, end: number): Provenance__Output {
  const p: Provenance__Output = { modelIds: [], extra: {}, strategy: '', paramsHash: '', sourceId: '', score: 0, prompt: '', seed: '0' };
  const outerEnd = r.end;
  r.end = end;
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1:
        expectWire(tag, 2);
        p.strategy = r.string();
        break;
      case 2:
        expectWire(tag, 2);
        p.paramsHash = r.string();
        break;
      case 3:
        expectWire(tag, 2);
        p.sourceId = r.string();
        break;
      case 4:
        expectWire(tag, 1);
        p.score = r.double();
        break;
      case 5:
        expectWire(tag, 2);
        p.modelIds.push(r.string());
        break;
      case 6:
        expectWire(tag, 2);
        p.prompt = r.string();
        break;
      case 7:
        expectWire(tag, 0);
        p.seed = r.int64String();
        break;
      case 8: {
        expectWire(tag, 2);
        const entryEnd = r.uint32() + r.pos;
        if (entryEnd > end) throw GIVE_UP;
        let key = '';
        let value = '';
        while (r.pos < entryEnd) {
          const entryTag = r.uint32();
          if (entryTag === 0x0a) key = r.string();
          else if (entryTag === 0x12) value = r.string();
          else if ((entryTag >>> 3) === 1 || (entryTag >>> 3) === 2) throw GIVE_UP;
          else r.skip(entryTag & 7);
        }
        if (r.pos !== entryEnd) throw GIVE_UP;
        p.extra[key] = value;
        break;
      }
      default:
        r.skip(tag & 7);
    }
  }
  if (r.pos !== end) throw GIVE_UP;
  r.end = outerEnd;
  return p;
}

/** The body as decodeMessage's SampleCurated__Output, or undefined when protobufjs must read it. */
export function decodeSampleCurated(body: Uint8Array): SampleCurated__Output | undefined {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const r = new Reader(buf, buf.length);
  const s: SampleCurated__Output = {
    sampleId: '',
    shiftId: '',
    strategy: '',
    classIndex: 0,
    wnid: '',
    sourceId: '',
    score: 0,
    shard: '',
    key: '',
    provenance: null,
    width: 0,
    height: 0,
  };
  try {
    while (r.pos < r.end) {
      const tag = r.uint32();
      switch (tag >>> 3) {
        case 1:
          expectWire(tag, 2);
          s.sampleId = r.string();
          break;
        case 2:
          expectWire(tag, 2);
          s.shiftId = r.string();
          break;
        case 3:
          expectWire(tag, 2);
          s.strategy = r.string();
          break;
        case 4:
          expectWire(tag, 0);
          s.classIndex = r.uint32() | 0;
          break;
        case 5:
          expectWire(tag, 2);
          s.wnid = r.string();
          break;
        case 6:
          expectWire(tag, 2);
          s.sourceId = r.string();
          break;
        case 7:
          expectWire(tag, 1);
          s.score = r.double();
          break;
        case 8:
          expectWire(tag, 2);
          s.shard = r.string();
          break;
        case 9:
          expectWire(tag, 2);
          s.key = r.string();
          break;
        case 10: {
          expectWire(tag, 2);
          const length = r.uint32();
          if (length > r.end - r.pos) throw GIVE_UP;
          s.provenance = readProvenance(r, r.pos + length);
          break;
        }
        case 11:
          expectWire(tag, 0);
          s.width = r.uint32() | 0;
          break;
        case 12:
          expectWire(tag, 0);
          s.height = r.uint32() | 0;
          break;
        default:
          if (tag >>> 3 === 0) throw GIVE_UP;
          r.skip(tag & 7);
      }
    }
  } catch (err) {
    if (err === GIVE_UP) return undefined;
    throw err;
  }
  return s;
}
