// Rows for INSERT ... FORMAT RowBinary: each value in column order, little-endian, strings and arrays with a
// LEB128 length in front, no separators, nothing to parse on the server. ClickHouse 18.16 and current versions
// read it the same way. Encoders are compiled once per column list from the columns' ClickHouse types (as
// system.columns spells them); a value that does not fit its column is an InvalidRowError naming the column,
// as in json-each-row.ts, so one bad row fails its insert instead of landing as a silent default.
import { InvalidRowError } from './errors.js';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const MAX_UINT32 = 0xffffffff;
const TWO_32 = 2 ** 32;

/** A growable byte buffer the column writers append to. */
class ByteSink {
  buf: Buffer;
  pos = 0;

  constructor(initialBytes: number) {
    this.buf = Buffer.allocUnsafe(Math.max(1024, initialBytes));
  }

  ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  varUInt(value: number): void {
    this.ensure(5);
    let v = value;
    while (v >= 0x80) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
  }

  string(value: string, column: string): void {
    const length = value.length;
    // A UTF-16 unit is at most 3 UTF-8 bytes: a string of up to 42 units fits a one-byte length, written
    // after the bytes; longer ones are measured first.
    if (length <= 42) {
      this.ensure(1 + 3 * length);
      // ASCII, the common case, byte by byte: cheaper than a call into C++ for strings this short.
      const { buf } = this;
      const start = this.pos + 1;
      let i = 0;
      for (; i < length; i++) {
        const code = value.charCodeAt(i);
        if (code >= 0x80) break;
        buf[start + i] = code;
      }
      if (i === length) {
        buf[this.pos] = length;
        this.pos = start + length;
        return;
      }
      const written = buf.write(value, start, 'utf8');
      buf[this.pos] = written;
      this.pos = start + written;
    } else {
      const bytes = Buffer.byteLength(value, 'utf8');
      this.varUInt(bytes);
      this.ensure(bytes);
      this.pos += this.buf.write(value, this.pos, bytes, 'utf8');
    }
    if (length > 0 && LONE_SURROGATE.test(value)) {
      throw new InvalidRowError(`column ${column}: string holds a lone UTF-16 surrogate and cannot be encoded as UTF-8`);
    }
  }

  bytes(value: Uint8Array): void {
    this.ensure(value.length);
    this.buf.set(value, this.pos);
    this.pos += value.length;
  }

  taken(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/**
 * Values of one or more consecutive columns already in RowBinary form, e.g. transcoded straight from a message
 * body: given as the value of the first of them, the bytes are copied as they are and the row's next
 * `columns - 1` columns are not read. The bytes must be what the columns' types read (nothing checks them
 * here; an INSERT of wrong bytes fails as a whole or lands wrong values), so whoever makes them checks the
 * types first (`ClickHouse.prepareInsert` returns them). RowBinary only: a JSONEachRow insert rejects them.
 */
export class RowBinaryBytes {
  constructor(
    readonly bytes: Uint8Array,
    readonly columns: number,
  ) {
    if (!Number.isInteger(columns) || columns < 1) throw new RangeError(`RowBinaryBytes: columns must be a positive integer, got ${columns}`);
  }
}

type ColumnWriter = (out: ByteSink, value: unknown, column: string) => void;

interface IntegerType {
  bytes: 1 | 2 | 4 | 8;
  signed: boolean;
}

const INTEGER_TYPES: Record<string, IntegerType> = {
  UInt8: { bytes: 1, signed: false },
  UInt16: { bytes: 2, signed: false },
  UInt32: { bytes: 4, signed: false },
  UInt64: { bytes: 8, signed: false },
  Int8: { bytes: 1, signed: true },
  Int16: { bytes: 2, signed: true },
  Int32: { bytes: 4, signed: true },
  Int64: { bytes: 8, signed: true },
};

function typeName(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
}

/** The integer a value stands for: a number, a bigint, a boolean, or a decimal string (64-bit values travel as strings). */
function integerOf(value: unknown, column: string, type: string): number | bigint {
  switch (typeof value) {
    case 'number':
      if (Number.isInteger(value)) return value;
      break;
    case 'bigint':
      return value;
    case 'boolean':
      return value ? 1 : 0;
    case 'string':
      if (/^-?\d{1,20}$/.test(value)) {
        const n = Number(value);
        return Number.isSafeInteger(n) ? n : BigInt(value);
      }
      break;
    default:
  }
  throw new InvalidRowError(`column ${column}: ${typeName(value)} ${String(value)} is not an integer for ${type}`);
}

function integerWriter(type: string, { bytes, signed }: IntegerType): ColumnWriter {
  const min = signed ? -(2n ** BigInt(8 * bytes - 1)) : 0n;
  const max = signed ? 2n ** BigInt(8 * bytes - 1) - 1n : 2n ** BigInt(8 * bytes) - 1n;
  const minNumber = Number(min);
  const maxNumber = Number(max);
  const outOfRange = (value: number | bigint, column: string): InvalidRowError =>
    new InvalidRowError(`column ${column}: ${String(value)} is outside the range of ${type}`);
  return (out, raw, column) => {
    const value = integerOf(raw, column, type);
    out.ensure(bytes);
    const { buf } = out;
    if (bytes < 8) {
      const n = Number(value);
      if (n < minNumber || n > maxNumber) throw outOfRange(value, column);
      if (bytes === 1) buf[out.pos] = n & 0xff;
      else if (bytes === 2) buf.writeUInt16LE(n & 0xffff, out.pos);
      else buf.writeUInt32LE(n >>> 0, out.pos);
    } else if (typeof value === 'number') {
      // Safe integers: two 32-bit halves, the high one two's complement for negatives.
      if (value < minNumber || value > maxNumber) throw outOfRange(value, column);
      const high = Math.floor(value / TWO_32);
      buf.writeUInt32LE(value - high * TWO_32, out.pos);
      buf.writeUInt32LE(high >>> 0, out.pos + 4);
    } else {
      if (value < min || value > max) throw outOfRange(value, column);
      if (signed) buf.writeBigInt64LE(value, out.pos);
      else buf.writeBigUInt64LE(value, out.pos);
    }
    out.pos += bytes;
  };
}

function floatWriter(type: 'Float32' | 'Float64'): ColumnWriter {
  return (out, value, column) => {
    if (typeof value !== 'number') {
      throw new InvalidRowError(`column ${column}: ${typeName(value)} is not a number for ${type}`);
    }
    if (type === 'Float64') {
      out.ensure(8);
      out.buf.writeDoubleLE(value, out.pos);
      out.pos += 8;
    } else {
      out.ensure(4);
      out.buf.writeFloatLE(value, out.pos);
      out.pos += 4;
    }
  };
}

const writeString: ColumnWriter = (out, value, column) => {
  if (typeof value !== 'string') throw new InvalidRowError(`column ${column}: ${typeName(value)} is not a string for String`);
  out.string(value, column);
};

/** DateTime: unix seconds as UInt32, from a Date (as the JSON path) or a number of seconds. */
const writeDateTime: ColumnWriter = (out, value, column) => {
  let seconds: number;
  if (value instanceof Date) seconds = Math.floor(value.getTime() / 1000);
  else if (typeof value === 'number' && Number.isInteger(value)) seconds = value;
  else throw new InvalidRowError(`column ${column}: ${typeName(value)} is not a Date for DateTime`);
  if (!(seconds >= 0 && seconds <= MAX_UINT32)) {
    throw new InvalidRowError(`column ${column}: date is invalid or outside the DateTime range (1970 .. 2106)`);
  }
  out.ensure(4);
  out.buf.writeUInt32LE(seconds, out.pos);
  out.pos += 4;
};

function arrayWriter(item: ColumnWriter): ColumnWriter {
  return (out, value, column) => {
    if (!Array.isArray(value)) throw new InvalidRowError(`column ${column}: ${typeName(value)} is not an array`);
    out.varUInt(value.length);
    for (const element of value as unknown[]) item(out, element, column);
  };
}

/** The writer of a ClickHouse type, or undefined when RowBinary is not supported here for it. */
function writerFor(type: string): ColumnWriter | undefined {
  if (type === 'String') return writeString;
  if (type === 'Float64' || type === 'Float32') return floatWriter(type);
  if (type === 'DateTime' || /^DateTime\('[^']*'\)$/.test(type)) return writeDateTime;
  const integer = INTEGER_TYPES[type];
  if (integer) return integerWriter(type, integer);
  const array = /^Array\((.+)\)$/.exec(type);
  if (array?.[1] !== undefined) {
    const item = writerFor(array[1]);
    return item && arrayWriter(item);
  }
  return undefined;
}

export interface ColumnType {
  name: string;
  /** The type as system.columns spells it, e.g. `DateTime('UTC')`, `Array(String)`. */
  type: string;
}

export interface RowBinaryEncoder {
  readonly columns: readonly string[];
  /** The columns' types, as compiled. */
  readonly types: readonly ColumnType[];
  /** The RowBinary body of the rows, every column in order; throws InvalidRowError for a missing or unfit value. */
  encode(rows: readonly object[]): Buffer;
}

/** True when every type has a RowBinary writer here (String, (U)Int8..64, Float32/64, DateTime, Array of those). */
export function rowBinarySupports(types: readonly ColumnType[]): boolean {
  return types.every(({ type }) => writerFor(type) !== undefined);
}

/** Compiles the encoder of a column list; throws when a type has no writer (check with rowBinarySupports first). */
export function compileRowBinary(types: readonly ColumnType[]): RowBinaryEncoder {
  const names = types.map((t) => t.name);
  const writers = types.map(({ name, type }) => {
    const writer = writerFor(type);
    if (!writer) throw new Error(`column ${name}: RowBinary is not supported here for type ${type}`);
    return writer;
  });
  let lastBytesPerRow = 256;
  return {
    columns: names,
    types: types.map(({ name, type }) => ({ name, type })),
    encode(rows) {
      const out = new ByteSink(rows.length * lastBytesPerRow);
      const count = names.length;
      for (const row of rows) {
        const source = row as Record<string, unknown>;
        for (let i = 0; i < count; i++) {
          const column = names[i] as string;
          const value = source[column];
          if (value === undefined) throw new InvalidRowError(`row has no value for column ${column}`);
          if (value instanceof RowBinaryBytes) {
            if (i + value.columns > count) {
              throw new InvalidRowError(`column ${column}: RowBinaryBytes for ${value.columns} columns, but only ${count - i} columns are left`);
            }
            out.bytes(value.bytes);
            i += value.columns - 1;
            continue;
          }
          (writers[i] as ColumnWriter)(out, value, column);
        }
      }
      if (rows.length > 0) lastBytesPerRow = Math.ceil(out.pos / rows.length) + 16;
      return out.taken();
    },
  };
}
