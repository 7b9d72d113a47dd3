import { invalidArgument } from './errors.js';

/**
 * Rows of a row-major float32 matrix: `data.length === rows * dim`. Every algorithm of the package takes
 * embeddings in this form (one contiguous buffer, no object per vector).
 */
export interface Matrix {
  data: Float32Array;
  rows: number;
  dim: number;
}

export function matrix(data: Float32Array, dim: number): Matrix {
  if (!Number.isInteger(dim) || dim <= 0) throw invalidArgument(`embedding dimension must be a positive integer (got ${dim})`);
  if (data.length % dim !== 0) {
    throw invalidArgument(`a matrix of ${dim}-dimensional rows cannot hold ${data.length} values (not a multiple of ${dim})`);
  }
  return { data, rows: data.length / dim, dim };
}

/** Stacks equal-length vectors into one matrix; every vector must have `dim` values. */
export function stack(vectors: readonly Float32Array[], dim: number, what = 'vector'): Matrix {
  const data = new Float32Array(vectors.length * dim);
  vectors.forEach((v, i) => {
    if (v.length !== dim) throw invalidArgument(`${what} ${i} has ${v.length} dimensions, expected ${dim}`);
    data.set(v, i * dim);
  });
  return { data, rows: vectors.length, dim };
}

export function row(m: Matrix, i: number): Float32Array {
  return m.data.subarray(i * m.dim, (i + 1) * m.dim);
}

export function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/**
 * L2-normalises every row in place. A row with a NaN/Inf or a zero norm has no direction: it throws
 * INVALID_ARGUMENT naming the row (`what` names the rows in the message).
 */
export function normalizeRows(m: Matrix, what = 'row'): Matrix {
  const { data, dim } = m;
  for (let r = 0; r < m.rows; r++) {
    const o = r * dim;
    let s = 0;
    for (let i = 0; i < dim; i++) s += data[o + i]! * data[o + i]!;
    if (!Number.isFinite(s)) throw invalidArgument(`${what} ${r} contains NaN or infinite values`);
    if (s === 0) throw invalidArgument(`${what} ${r} is all zeros and has no direction`);
    const inv = 1 / Math.sqrt(s);
    for (let i = 0; i < dim; i++) data[o + i]! *= inv;
  }
  return m;
}

/** A normalised copy of one vector. */
export function normalized(v: Float32Array, what = 'vector'): Float32Array {
  return normalizeRows({ data: Float32Array.from(v), rows: 1, dim: v.length }, what).data;
}

/** Cosine similarity of two vectors of the same length (0 when either is all zeros). */
export function cosine(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw invalidArgument(`cannot compare a ${a.length}-dimensional vector with a ${b.length}-dimensional one`);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return aa === 0 || bb === 0 ? 0 : ab / Math.sqrt(aa * bb);
}
