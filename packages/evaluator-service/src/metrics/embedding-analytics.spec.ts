import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeNpy } from '@select/datasets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPythonJson } from '../python.test-util.js';
import { cmmd, contaminationRate, nearDuplicateRate } from './embedding-analytics.js';
import { Linalg, normalizeRows, type Matrix } from './linalg.js';
import { SeededRandom } from './random.js';

function embeddings(rows: number, cols: number, seed: number, offset = 0): Matrix {
  const rng = new SeededRandom(seed);
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = rng.normal() + (i % cols === 0 ? offset : 0);
  return normalizeRows({ data, rows, cols });
}

describe('embedding analytics', () => {
  let linalg: Linalg;
  let dir: string;
  beforeAll(async () => {
    linalg = await Linalg.open({ threads: 1, blockRows: 100 });
    dir = await mkdtemp(join(tmpdir(), 'cmmd-'));
  });
  afterAll(async () => {
    await linalg.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('CMMD matches the reference implementation’s formula (numpy, float64) on fixed embeddings', async () => {
    const x = embeddings(300, 64, 1);
    const y = embeddings(250, 64, 2, 1.5); // a shifted distribution
    await writeNpy(join(dir, 'x.npy'), x.data, { dim: 64 });
    await writeNpy(join(dir, 'y.npy'), y.data, { dim: 64 });
    const reference = await runPythonJson<{ cmmd: number }>('tools/evaluator/cmmd_reference.py', [join(dir, 'x.npy'), join(dir, 'y.npy')]);
    const ours = await cmmd(linalg, x, y);
    expect(reference.cmmd).toBeGreaterThan(0.3); // the sets differ: a value well away from 0
    expect(Math.abs(ours - reference.cmmd)).toBeLessThan(1e-5 * reference.cmmd);
    // a set against itself: 0
    expect(Math.abs(await cmmd(linalg, x, x))).toBeLessThan(1e-4);
  }, 120_000);

  it('finds near duplicates inside a set and evaluation images inside a shift', async () => {
    const base = embeddings(50, 32, 3);
    // rows 50..52 copy rows 0..2 with a little noise
    const rng = new SeededRandom(9);
    const extra = Float32Array.from(base.data.subarray(0, 3 * 32), (v) => v + 0.001 * rng.normal());
    const shift = { data: Float32Array.from([...base.data, ...extra]), rows: 53, cols: 32 };
    const dup = await nearDuplicateRate(linalg, shift, 0.95);
    expect(dup.duplicates).toEqual([0, 1, 2, 50, 51, 52]);
    expect(dup.rate).toBeCloseTo(6 / 53, 12);
    const evalSet = { data: base.data.slice(10 * 32, 14 * 32), rows: 4, cols: 32 }; // rows 10..13 of the shift
    const leaked = await contaminationRate(linalg, shift, evalSet, 0.95);
    expect(leaked.contaminated).toBe(4);
    expect(leaked.rate).toBeCloseTo(4 / 53, 12);
  });
});
