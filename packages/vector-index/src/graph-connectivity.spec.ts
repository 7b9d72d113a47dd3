import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createNativeIndex } from './native-binding.js';
import { graphConnectivity } from './vector-index.js';

const dir = mkdtempSync(join(tmpdir(), 'graph-connectivity-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function unitRows(n: number, d: number, seed: number): Float32Array {
  const out = new Float32Array(n * d);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let j = 0; j < d; j++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const v = s / 2 ** 32 - 0.5;
      out[i * d + j] = v;
      norm += v * v;
    }
    for (let j = 0; j < d; j++) out[i * d + j]! /= Math.sqrt(norm);
  }
  return out;
}

const keysFor = (n: number) => BigUint64Array.from({ length: n }, (_, i) => BigInt(i));

describe('graph link counts', () => {
  it("maps the spec's M to FAISS's base-level fan-out: 2M links for a new node, 2M kept", () => {
    expect(graphConnectivity(16)).toEqual({ connectivity: 32, connectivityBase: 32 });
  });

  it('refuses a base-level link count below the per-level one', () => {
    expect(() =>
      createNativeIndex({ dimensions: 8, metric: 'ip', quantization: 'f32', connectivity: 16, connectivityBase: 8, expansionAdd: 32 }),
    ).toThrow(/connectivityBase must be at least connectivity/);
  });

  it('loads a graph saved with the earlier link counts and answers the same', async () => {
    const d = 16;
    const n = 3000;
    const rows = unitRows(n, d, 7);
    const old = createNativeIndex({ dimensions: d, metric: 'ip', quantization: 'f32', connectivity: 16, expansionAdd: 64, reserveBytes: 1 << 20 });
    await old.add(keysFor(n), rows, 2);
    const file = join(dir, 'old.usearch');
    await old.save(file);
    const reopened = createNativeIndex({ dimensions: d, metric: 'ip', quantization: 'f32', ...graphConnectivity(16), expansionAdd: 64, reserveBytes: 1 << 20 });
    await reopened.load(file);
    expect(reopened.size()).toBe(n);
    const queries = unitRows(50, d, 11);
    const search = { capacity: 10, exact: false, breadth: 64, threads: 1 };
    const a = await old.search(queries, search);
    const b = await reopened.search(queries, search);
    expect(Array.from(b.keys)).toEqual(Array.from(a.keys));
    expect(Array.from(b.scores)).toEqual(Array.from(a.scores));
  });
});
