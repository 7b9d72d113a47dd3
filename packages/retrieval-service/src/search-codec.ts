// The hot wire path of Search and RangeSearch. proto-loader turns every message into protobufjs
// objects and back (decode then toObject, fromObject then encode, plus a copy of the bytes each way);
// for a 1,000 x 512 query batch that was a large share of the CPU time per query, and on a small
// machine every cycle spent there is taken from the native search threads. So the query vectors go
// between bytes and one Float32Array matrix directly, and SearchResponse is written into one buffer
// sized up front. Every other field still goes through proto-loader.
import type { retrievalV1 } from '@select/contracts';
import type { FlatNeighbors } from '@select/vector-index';
import type { VectorLike } from './vector-codec.js';

/**
 * SearchResponse exactly as the search handlers build it: every field set, scores as numbers (the
 * generated input type also admits strings and missing fields, which the handlers never send).
 */
export type SearchResponseOut = retrievalV1.SearchResponse__Output;

/** The query vectors of a request, gathered into one matrix as they are decoded. */
export interface QueryMatrix {
  /** Every query's components, one query after the other. */
  values: Float32Array;
  /** Components of each query (they may differ: the handler checks them against the index). */
  lengths: Uint32Array;
  /** The first malformed query, if any. */
  problem: { query: number; message: string } | undefined;
}

/** A Search or RangeSearch request as the service receives it: the generated shape, queries as a matrix. */
export type WithQueryMatrix<R> = Omit<R, 'queries'> & { queries: QueryMatrix };

/** A Search or RangeSearch request as the client sends it: the generated shape, queries as vectors. */
export type WithQueryVectors<R> = Omit<R, 'queries'> & { queries: readonly VectorLike[] };

// Field tags of select.retrieval.v1 (field number << 3 | wire type): 2 = length-delimited, 0 = varint, 5 = fixed32.
const REQUEST_QUERIES = 0x12;
const QUERY_VECTOR = 0x0a;
const QUERY_VECTOR_UNPACKED = 0x0d;
const QUERY_VECTOR_F32 = 0x12;
const RESPONSE_RESULTS = 0x0a;
const RESULT_NEIGHBORS = 0x0a;
const RESULT_TRUNCATED = 0x10;
const RESULT_IDS = 0x1a;
const RESULT_SCORES = 0x22;
const NEIGHBOR_ID = 0x0a;
const NEIGHBOR_SCORE = 0x15;
const NEIGHBOR_METADATA = 0x1a;
const ENTRY_KEY = 0x0a;
const ENTRY_VALUE = 0x12;

function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

function utf8Size(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s);
  return s.length;
}

/** A length-delimited field of `size` payload bytes, with its tag and length prefix. */
function delimited(size: number): number {
  return 1 + varintSize(size) + size;
}

function neighborSize(n: retrievalV1.Neighbor__Output): number {
  let size = (n.id ? delimited(utf8Size(n.id)) : 0) + (n.score !== 0 ? 5 : 0);
  for (const key in n.metadata) {
    const value = n.metadata[key]!;
    size += delimited((key ? delimited(utf8Size(key)) : 0) + (value ? delimited(utf8Size(value)) : 0));
  }
  return size;
}

function resultSize(r: retrievalV1.QueryResult__Output): number {
  let size = r.truncated ? 2 : 0;
  for (const n of r.neighbors) size += delimited(neighborSize(n));
  for (const id of r.ids) size += delimited(utf8Size(id));
  if (r.scores.length > 0) size += delimited(4 * r.scores.length);
  return size;
}

class Writer {
  readonly buffer: Buffer;
  at = 0;
  constructor(size: number) {
    this.buffer = Buffer.allocUnsafe(size);
  }
  byte(b: number): void {
    this.buffer[this.at++] = b;
  }
  varint(n: number): void {
    while (n >= 0x80) {
      this.buffer[this.at++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    this.buffer[this.at++] = n;
  }
  float(x: number): void {
    this.buffer.writeFloatLE(x, this.at);
    this.at += 4;
  }
  floats(v: Float32Array): void {
    this.buffer.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), this.at);
    this.at += v.byteLength;
  }
  string(tag: number, s: string): void {
    const size = utf8Size(s);
    this.byte(tag);
    this.varint(size);
    if (size === s.length) for (let i = 0; i < s.length; i++) this.buffer[this.at++] = s.charCodeAt(i);
    else this.at += this.buffer.write(s, this.at, 'utf8');
  }
}

/**
 * Protobuf bytes of a SearchResponse, written in one buffer sized up front. proto-loader's own serializer
 * first copies the response into protobufjs message objects, encodes those, then copies the bytes once
 * more; for a 1,000-query batch that was a tenth of the service's CPU time per query, and every cycle the
 * event loop spends here is taken from the native search threads on a small machine.
 */
export function encodeSearchResponse(response: SearchResponseOut): Buffer {
  const sizes = response.results.map(resultSize);
  let total = 0;
  for (const size of sizes) total += delimited(size);
  const w = new Writer(total);
  response.results.forEach((r, i) => {
    w.byte(RESPONSE_RESULTS);
    w.varint(sizes[i]!);
    for (const n of r.neighbors) {
      w.byte(RESULT_NEIGHBORS);
      w.varint(neighborSize(n));
      if (n.id) w.string(NEIGHBOR_ID, n.id);
      if (n.score !== 0) {
        w.byte(NEIGHBOR_SCORE);
        w.float(n.score);
      }
      for (const key in n.metadata) {
        const value = n.metadata[key]!;
        w.byte(NEIGHBOR_METADATA);
        w.varint((key ? delimited(utf8Size(key)) : 0) + (value ? delimited(utf8Size(value)) : 0));
        if (key) w.string(ENTRY_KEY, key);
        if (value) w.string(ENTRY_VALUE, value);
      }
    }
    if (r.truncated) {
      w.byte(RESULT_TRUNCATED);
      w.byte(1);
    }
    for (const id of r.ids) w.string(RESULT_IDS, id);
    if (r.scores.length > 0) {
      w.byte(RESULT_SCORES);
      w.varint(4 * r.scores.length);
      for (const score of r.scores) w.float(score);
    }
  });
  return w.buffer;
}

function idsSize(ids: readonly string[], from: number, to: number): number {
  let size = 0;
  for (let i = from; i < to; i++) size += delimited(utf8Size(ids[i]!));
  return size;
}

/**
 * Protobuf bytes of a compact SearchResponse (`ids` / `scores` per query) straight from flat results:
 * no object per neighbour or per query on the way, which is most of what the event loop did per query.
 */
export function encodeFlatResponse(found: FlatNeighbors): Buffer {
  const queries = found.offsets.length - 1;
  const sizes = new Uint32Array(queries);
  let total = 0;
  for (let q = 0; q < queries; q++) {
    const from = found.offsets[q]!;
    const to = found.offsets[q + 1]!;
    const size = (found.truncated[q] ? 2 : 0) + idsSize(found.ids, from, to) + (to > from ? delimited(4 * (to - from)) : 0);
    sizes[q] = size;
    total += delimited(size);
  }
  const w = new Writer(total);
  for (let q = 0; q < queries; q++) {
    const from = found.offsets[q]!;
    const to = found.offsets[q + 1]!;
    w.byte(RESPONSE_RESULTS);
    w.varint(sizes[q]!);
    if (found.truncated[q]) {
      w.byte(RESULT_TRUNCATED);
      w.byte(1);
    }
    for (let i = from; i < to; i++) w.string(RESULT_IDS, found.ids[i]!);
    if (to > from) {
      w.byte(RESULT_SCORES);
      w.varint(4 * (to - from));
      w.floats(found.scores.subarray(from, to));
    }
  }
  return w.buffer;
}

/** Reads protobuf wire format in [at, end): varints, and the extent of any field (so unknown ones are skipped). */
class Reader {
  constructor(
    readonly buffer: Buffer,
    public at: number,
    readonly end: number,
  ) {}
  varint(): number {
    let value = 0;
    for (let i = 0; i < 10; i++) {
      if (this.at >= this.end) throw new Error('truncated varint');
      const b = this.buffer[this.at++]!;
      // Tags and lengths fit in 35 bits; longer varints (64-bit values) are only ever skipped.
      if (i < 5) value += (b & 0x7f) * 2 ** (7 * i);
      if (b < 0x80) return value;
    }
    throw new Error('varint longer than 10 bytes');
  }
  /** Moves past the value of a field of `wireType`; returns [start, end) of its payload. */
  skip(wireType: number): [number, number] {
    let start = this.at;
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.at += 8;
    else if (wireType === 5) this.at += 4;
    else if (wireType === 2) {
      const length = this.varint();
      start = this.at;
      this.at += length;
    } else throw new Error(`unsupported wire type ${wireType}`);
    if (this.at > this.end) throw new Error('truncated field');
    return [start, this.at];
  }
}

/** Components of the Query message at [from, to), or what is wrong with it; `into` (when given) receives them at `offset` (bytes). */
function readQuery(buffer: Buffer, from: number, to: number, into?: Uint8Array, offset = 0): number | string {
  const r = new Reader(buffer, from, to);
  let packed: [number, number] | undefined;
  const floats: [number, number][] = [];
  let floatBytes = 0;
  while (r.at < to) {
    const tag = r.varint();
    if (tag === QUERY_VECTOR_F32) packed = r.skip(2);
    else if (tag === QUERY_VECTOR || tag === QUERY_VECTOR_UNPACKED) {
      const range = r.skip(tag & 7);
      floats.push(range);
      floatBytes += range[1] - range[0];
    } else r.skip(tag & 7);
  }
  const bytes = packed ? packed[1] - packed[0] : 0;
  if (bytes > 0 && floatBytes > 0) return 'set either vector or vector_f32, not both';
  if (bytes % 4 !== 0) return `vector_f32 has ${bytes} bytes, not a multiple of 4`;
  if (floatBytes % 4 !== 0) return 'vector is not a whole number of floats';
  if (into) {
    // Both forms are little-endian float32 on the wire: the bytes are copied as they are.
    for (const [a, b] of packed && bytes > 0 ? [packed] : floats) {
      into.set(buffer.subarray(a, b), offset);
      offset += b - a;
    }
  }
  return (bytes || floatBytes) / 4;
}

/**
 * Splits a serialized Search or RangeSearch request into its query matrix and the bytes of every other
 * field (for proto-loader); both requests carry `repeated Query queries = 2`.
 */
export function decodeQueryMatrix(bytes: Buffer): { queries: QueryMatrix; rest: Buffer } {
  const r = new Reader(bytes, 0, bytes.length);
  const queries: [number, number][] = [];
  const rest: Buffer[] = [];
  while (r.at < bytes.length) {
    const fieldStart = r.at;
    const tag = r.varint();
    const range = r.skip(tag & 7);
    if (tag === REQUEST_QUERIES) queries.push(range);
    else rest.push(bytes.subarray(fieldStart, r.at));
  }
  const lengths = new Uint32Array(queries.length);
  let problem: QueryMatrix['problem'];
  let total = 0;
  queries.forEach(([from, to], q) => {
    const n = readQuery(bytes, from, to);
    if (typeof n === 'string') problem ??= { query: q, message: n };
    else {
      lengths[q] = n;
      total += n;
    }
  });
  const values = new Float32Array(problem ? 0 : total);
  if (!problem) {
    const into = new Uint8Array(values.buffer);
    let offset = 0;
    queries.forEach(([from, to], q) => {
      readQuery(bytes, from, to, into, offset);
      offset += lengths[q]! * 4;
    });
  }
  return { queries: { values, lengths, problem }, rest: Buffer.concat(rest) };
}

/** Protobuf bytes of `queries` as the `queries` field of a Search or RangeSearch request (packed float32). */
export function encodeQueryField(queries: readonly VectorLike[]): Buffer {
  const floats = queries.map((v) => (v instanceof Float32Array ? v : Float32Array.from(v)));
  let total = 0;
  for (const v of floats) total += delimited(delimited(v.byteLength));
  const w = new Writer(total);
  for (const v of floats) {
    w.byte(REQUEST_QUERIES);
    w.varint(delimited(v.byteLength));
    w.byte(QUERY_VECTOR_F32);
    w.varint(v.byteLength);
    w.floats(v);
  }
  return w.buffer;
}

