// The native addon's own storage of f32 vectors (one aligned row per graph slot, see slab_t in
// native/vector_index.cc): every path that writes rows — adds, slots reused after removals, the rows
// moving to a larger reservation, loading a saved file — must leave each stored vector exactly as added.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createNativeIndex, type NativeIndex } from './native-binding.js';

const d = 64;

function unitVectors(n: number, seed: number): Float32Array {
  let state = seed >>> 0;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  };
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let j = 0; j < d; j++) {
      const x = next();
      out[i * d + j] = x;
      norm += x * x;
    }
    for (let j = 0; j < d; j++) out[i * d + j]! /= Math.sqrt(norm);
  }
  return out;
}

function keyRange(from: number, count: number): BigUint64Array {
  return BigUint64Array.from({ length: count }, (_, i) => BigInt(from + i));
}

/** A small reservation (64 KiB = 256 rows of 64 floats), so that the rows move to larger ones several times. */
function smallIndex(dimensions = d): NativeIndex {
  return createNativeIndex({ dimensions, metric: 'ip', quantization: 'f32', connectivity: 16, expansionAdd: 64, reserveBytes: 64 * 1024 });
}

/** Each query's best match: key and score. */
async function nearest(index: NativeIndex, queries: Float32Array, exact: boolean) {
  const found = await index.search(queries, { capacity: 1, exact, breadth: 64, threads: 2 });
  return Array.from({ length: queries.length / d }, (_, q) => ({
    key: found.offsets[q + 1]! > found.offsets[q]! ? found.keys[found.offsets[q]!]! : -1,
    score: found.scores[found.offsets[q]!] ?? Number.NaN,
  }));
}

/** Every stored vector finds itself with score 1 (exactly: its own row, exact search), and the graph agrees. */
async function expectStored(index: NativeIndex, vectors: Float32Array, keys: number[]) {
  const exact = await nearest(index, vectors, true);
  exact.forEach((hit, i) => {
    expect(hit.key).toBe(keys[i]);
    expect(hit.score).toBeCloseTo(1, 5);
  });
  const approximate = await nearest(index, vectors, false);
  const found = approximate.filter((hit, i) => hit.key === keys[i]).length;
  expect(found / keys.length).toBeGreaterThanOrEqual(0.99);
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('native f32 vector storage', () => {
  it('keeps every vector exact through adds, storage growth, reused slots and save/load', async () => {
    const index = smallIndex();
    const first = unitVectors(3000, 1);
    for (let start = 0; start < 3000; start += 250) {
      await index.add(keyRange(start, 250), first.slice(start * d, (start + 250) * d), 2);
    }
    const keys = Array.from({ length: 3000 }, (_, i) => i);
    await expectStored(index, first, keys);
    expect(index.memoryUsage()).toBeGreaterThanOrEqual(3000 * d * 4);

    // Removed keys free their slots; the next adds reuse them with new vectors.
    const removed = keyRange(1000, 200);
    expect(await index.remove(removed)).toBe(200);
    const second = unitVectors(200, 2);
    await index.add(keyRange(5000, 200), second, 2);
    const kept = keys.filter((k) => k < 1000 || k >= 1200);
    const keptVectors = new Float32Array(kept.length * d);
    kept.forEach((k, i) => keptVectors.set(first.subarray(k * d, (k + 1) * d), i * d));
    await expectStored(index, keptVectors, kept);
    await expectStored(index, second, Array.from({ length: 200 }, (_, i) => 5000 + i));
    const stale = await nearest(index, first.subarray(1000 * d, 1200 * d), true);
    expect(stale.every((hit) => hit.key < 1000 || hit.key >= 1200)).toBe(true);

    const dir = mkdtempSync(join(tmpdir(), 'svi-storage-'));
    dirs.push(dir);
    await index.save(join(dir, 'index.usearch'));
    const loaded = smallIndex();
    await loaded.load(join(dir, 'index.usearch'));
    expect(loaded.size()).toBe(3000);
    await expectStored(loaded, keptVectors, kept);
    await expectStored(loaded, second, Array.from({ length: 200 }, (_, i) => 5000 + i));
    const before = await index.search(second, { capacity: 10, exact: false, breadth: 64, threads: 1 });
    const after = await loaded.search(second, { capacity: 10, exact: false, breadth: 64, threads: 1 });
    expect(after.keys).toEqual(before.keys);
    expect(after.scores).toEqual(before.scores);

    // Adds after a load go on from the loaded rows.
    const third = unitVectors(300, 3);
    await loaded.add(keyRange(9000, 300), third, 2);
    await expectStored(loaded, third, Array.from({ length: 300 }, (_, i) => 9000 + i));
    await expectStored(loaded, keptVectors, kept);
  });

  it('refuses a file written by an index of another dimension', async () => {
    const narrow = createNativeIndex({ dimensions: 32, metric: 'ip', quantization: 'f32', connectivity: 16, expansionAdd: 64 });
    const vectors = new Float32Array(10 * 32).fill(0.1);
    await narrow.add(keyRange(0, 10), vectors, 1);
    const dir = mkdtempSync(join(tmpdir(), 'svi-storage-'));
    dirs.push(dir);
    await narrow.save(join(dir, 'narrow.usearch'));
    const wide = smallIndex(64);
    await expect(wide.load(join(dir, 'narrow.usearch'))).rejects.toThrow(/another shape/);
  });
});
