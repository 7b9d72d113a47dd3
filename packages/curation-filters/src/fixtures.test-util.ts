import { SeededRandom } from './random.js';
import type { Matrix } from './vectors.js';

/** Unit vectors at the given angles (degrees) in the plane. */
export function angles(...degrees: number[]): Matrix {
  const data = new Float32Array(degrees.length * 2);
  degrees.forEach((deg, i) => {
    data[2 * i] = Math.cos((deg * Math.PI) / 180);
    data[2 * i + 1] = Math.sin((deg * Math.PI) / 180);
  });
  return { data, rows: degrees.length, dim: 2 };
}

/** Gaussian-ish random rows (sum of uniforms), seeded. */
export function randomMatrix(rows: number, dim: number, seed: number): Matrix {
  const random = new SeededRandom(seed);
  const data = new Float32Array(rows * dim);
  for (let i = 0; i < data.length; i++) data[i] = random.next() + random.next() + random.next() - 1.5;
  return { data, rows, dim };
}

/** A copy of `v` with seeded noise of relative size `scale`. */
export function jitter(v: Float32Array, scale: number, seed: number): Float32Array {
  const random = new SeededRandom(seed);
  let norm = 0;
  for (const x of v) norm += x * x;
  norm = Math.sqrt(norm);
  return Float32Array.from(v, (x) => x + (random.next() - 0.5) * 2 * scale * (norm / Math.sqrt(v.length)));
}

export function rowOf(m: Matrix, i: number): Float32Array {
  return m.data.slice(i * m.dim, (i + 1) * m.dim);
}
