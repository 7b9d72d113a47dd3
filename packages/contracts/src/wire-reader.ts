// The protobuf wire primitives the direct readers share (the SampleCurated decoder here, the metrics sink's
// SampleCurated → RowBinary transcoder): varints, length-delimited and fixed fields, skipping unknown fields.
// They read as protobufjs does; anything they do not expect (a truncated value, a varint over 10 bytes, a
// group) throws WIRE_GIVE_UP, which the reader's caller catches to hand the body to protobufjs instead.

/** Thrown by WireReader to give up on a body; catch it where the reading starts. */
export const WIRE_GIVE_UP: unique symbol = Symbol('give up');

export class WireReader {
  pos = 0;
  /** The 64 bits of the last int64() as unsigned 32-bit halves. */
  low = 0;
  high = 0;

  constructor(
    public buf: Buffer,
    public end: number,
  ) {}

  /** A varint's low 32 bits, unsigned (at most 10 bytes, as protobufjs reads them). */
  uint32(): number {
    const buf = this.buf;
    let value = 0;
    for (let shift = 0, i = 0; i < 10; i++, shift += 7) {
      if (this.pos >= this.end) throw WIRE_GIVE_UP;
      const byte = buf[this.pos++]!;
      if (shift < 32) value |= (byte & 0x7f) << shift;
      if (byte < 0x80) return value >>> 0;
    }
    throw WIRE_GIVE_UP;
  }

  /** A varint's 64 bits into `low` and `high`. */
  int64(): void {
    const buf = this.buf;
    let low = 0;
    let high = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw WIRE_GIVE_UP;
      const byte = buf[this.pos++]!;
      const bits = byte & 0x7f;
      const shift = i * 7;
      if (shift < 28) low |= bits << shift;
      else if (shift === 28) {
        low |= bits << 28;
        high |= bits >>> 4;
      } else high |= bits << (shift - 32);
      if (byte < 0x80) {
        this.low = low >>> 0;
        this.high = high >>> 0;
        return;
      }
    }
    throw WIRE_GIVE_UP;
  }

  /** A length-delimited value: returns where its bytes start; `pos` is then where they end. */
  delimited(): number {
    const length = this.uint32();
    const start = this.pos;
    if (length > this.end - start) throw WIRE_GIVE_UP;
    this.pos = start + length;
    return start;
  }

  /** An 8-byte field: returns where it starts. */
  fixed64(): number {
    const at = this.pos;
    if (at + 8 > this.end) throw WIRE_GIVE_UP;
    this.pos = at + 8;
    return at;
  }

  /** Skips a field of an unknown number; groups (wire types 3 and 4) give up. */
  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.uint32();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2: {
        const length = this.uint32(); // read first: `this.pos += this.uint32()` would add to the old position
        this.pos += length;
        break;
      }
      case 5:
        this.pos += 4;
        break;
      default:
        throw WIRE_GIVE_UP;
    }
    if (this.pos > this.end) throw WIRE_GIVE_UP;
  }
}
