// Decoding the same short UTF-8 bytes again and again (header names and values that repeat from record to
// record) costs a call into C++ and a new string each time; comparing the bytes in JS against the last ones
// and reusing their text costs a fraction of that (tools/bench/events).

/** The text of the last bytes decoded at one place, kept with a copy of those bytes. */
export class RepeatedText {
  private bytes: Buffer = Buffer.alloc(0);
  private text = '';

  /** @param maxBytes longer values are decoded every time and not kept */
  constructor(private readonly maxBytes: number) {}

  /** The UTF-8 text of `buf[start, end)`: the last text again when the bytes are the last bytes. */
  decode(buf: Buffer, start = 0, end = buf.length): string {
    const n = end - start;
    if (n > this.maxBytes) return buf.toString('utf8', start, end);
    const known = this.bytes;
    if (n === known.length) {
      let i = 0;
      while (i < n && buf[start + i] === known[i]) i++;
      if (i === n) return this.text;
    }
    this.text = buf.toString('utf8', start, end);
    this.bytes = Buffer.from(buf.subarray(start, end)); // a copy: `buf` is often a view of a whole fetch response
    return this.text;
  }
}
