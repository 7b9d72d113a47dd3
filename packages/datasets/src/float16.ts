// IEEE 754 half precision, which clip-retrieval uses for its embedding .npy files. Node 20 has no
// Float16Array, so conversions go through the bit patterns.

let halfTable: Float32Array | undefined;

/** Float value of every half bit pattern, built once (256 KiB) so decoding a row is one lookup per value. */
function table(): Float32Array {
  if (halfTable !== undefined) return halfTable;
  const out = new Float32Array(65536);
  for (let bits = 0; bits < 65536; bits++) {
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >> 10) & 0x1f;
    const mantissa = bits & 0x3ff;
    if (exponent === 0) out[bits] = sign * mantissa * 2 ** -24;
    else if (exponent === 31) out[bits] = mantissa === 0 ? sign * Infinity : NaN;
    else out[bits] = sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  }
  halfTable = out;
  return out;
}

export function halfBitsToFloats(halves: Uint16Array, out = new Float32Array(halves.length)): Float32Array {
  const lookup = table();
  for (let i = 0; i < halves.length; i++) out[i] = lookup[halves[i] ?? 0] ?? 0;
  return out;
}

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/** Nearest half (ties to even), as numpy's float32 -> float16 cast does. */
export function floatToHalfBits(value: number): number {
  scratch[0] = value;
  const f = scratchBits[0] ?? 0;
  const sign = (f & 0x80000000) >>> 16;
  const exponent = f & 0x7f800000;
  if (exponent >= 0x47800000) {
    if (exponent === 0x7f800000 && (f & 0x007fffff) !== 0) return sign | 0x7e00;
    return sign | 0x7c00;
  }
  if (exponent <= 0x38000000) {
    if (exponent < 0x33000000) return sign;
    const e = exponent >>> 23;
    let significand = (0x00800000 + (f & 0x007fffff)) >>> (113 - e);
    if ((significand & 0x3fff) !== 0x1000 || (f & 0x7ff) !== 0) significand += 0x1000;
    return sign | (significand >>> 13);
  }
  let significand = f & 0x007fffff;
  if ((significand & 0x3fff) !== 0x1000) significand += 0x1000;
  // A carry out of the significand correctly bumps the exponent (up to infinity).
  return sign | (((exponent - 0x38000000) >>> 13) + (significand >>> 13));
}

export function floatsToHalfBits(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = floatToHalfBits(values[i] ?? 0);
  return out;
}
