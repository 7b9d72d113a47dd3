import { describe, expect, it } from 'vitest';
import { decodeVector, encodeVector } from './vector-codec.js';

describe('packed float32 vectors', () => {
  it('round-trips exactly, whatever the byte offset the bytes arrive at', () => {
    const vector = Float32Array.from([1.5, -2.25, 3e-7, Math.PI]);
    const packed = encodeVector(vector);
    expect(packed.length).toBe(16);
    const unaligned = Buffer.concat([Buffer.from([9]), packed]).subarray(1);
    expect(decodeVector({ vectorF32: unaligned })).toEqual(vector);
    expect(decodeVector({ vector: [1, 2] })).toEqual([1, 2]);
  });

  it('names what is wrong with a malformed vector', () => {
    expect(decodeVector({ vectorF32: Buffer.alloc(10) })).toBe('vector_f32 has 10 bytes, not a multiple of 4');
    expect(decodeVector({ vector: [1], vectorF32: Buffer.alloc(4) })).toBe('set either vector or vector_f32, not both');
  });
});
