/** A vector as it arrives: repeated floats, or packed little-endian float32 bytes. */
export interface VectorMessage {
  vector?: number[] | Float32Array | null;
  vectorF32?: Uint8Array | null;
}

/** The vector of a message, or the reason it is malformed (both forms set, or a byte length not a multiple of 4). */
export function decodeVector(message: VectorMessage): number[] | Float32Array | string {
  const packed = message.vectorF32;
  const floats = message.vector ?? [];
  if (!packed || packed.length === 0) return floats;
  if (floats.length > 0) return 'set either vector or vector_f32, not both';
  if (packed.length % 4 !== 0) return `vector_f32 has ${packed.length} bytes, not a multiple of 4`;
  // A copy: the bytes may sit at any offset of a shared buffer, and a Float32Array view needs 4-byte alignment.
  const out = new Float32Array(packed.length / 4);
  new Uint8Array(out.buffer).set(packed);
  return out;
}

/** A vector as callers hand it over. */
export type VectorLike = Float32Array | readonly number[];

/** Packed little-endian float32 bytes of a vector, for `vector_f32`. */
export function encodeVector(vector: VectorLike): Buffer {
  const floats = vector instanceof Float32Array ? vector : Float32Array.from(vector);
  return Buffer.from(floats.buffer, floats.byteOffset, floats.byteLength);
}
