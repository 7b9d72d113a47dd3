import { describe, expect, it } from 'vitest';
import { gaussianNoise, philox4x32 } from './philox-random.js';

describe('philox4x32', () => {
  it('matches the Random123 known-answer vectors', () => {
    // From Random123's kat_vectors (philox4x32_10).
    expect([...philox4x32([0, 0, 0, 0], [0, 0])]).toEqual([0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
    expect([...philox4x32([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff])]).toEqual([
      0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd,
    ]);
    expect([...philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0])]).toEqual([
      0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1,
    ]);
  });
});

describe('gaussianNoise', () => {
  it('is a pure function of seed and stream', () => {
    expect(gaussianNoise(42n, 0, 1000)).toEqual(gaussianNoise(42n, 0, 1000));
    expect(gaussianNoise(42n, 0, 1000)).not.toEqual(gaussianNoise(43n, 0, 1000));
    expect(gaussianNoise(42n, 0, 1000)).not.toEqual(gaussianNoise(42n, 1, 1000));
    // A prefix does not depend on how many values were asked for.
    expect(gaussianNoise(7n, 3, 10)).toEqual(gaussianNoise(7n, 3, 1001).subarray(0, 10));
  });

  it('is standard normal', () => {
    const x = gaussianNoise(-5n, 0, 200_000);
    const mean = x.reduce((s, v) => s + v, 0) / x.length;
    const variance = x.reduce((s, v) => s + (v - mean) ** 2, 0) / x.length;
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(variance - 1)).toBeLessThan(0.01);
    const within1 = x.filter((v) => Math.abs(v) < 1).length / x.length;
    expect(within1).toBeCloseTo(0.6827, 2);
  });
});
