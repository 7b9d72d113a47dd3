// SELECT's class-balanced kNN feature bank (ssl/eval_knn.py; DESIGN.md "Self-supervised kNN"), seeded.

export interface KnnBank {
  dim: number;
  perClass: number;
  /** (classes × perClass) × dim, L2-normalised rows, class-major. */
  vectors: Float32Array;
  labels: Int32Array;
  /** 0: a real shift feature; 1: drawn from N(class mean, class std); 2: an empty class's random point or its noisy copy. */
  origin: Uint8Array;
  stats: { realRows: number; sampledRows: number; emptyClasses: number; nudgedDuplicates: number; seed: number };
}

/** mulberry32: small, fast, seedable; what every draw of the bank uses. */
export function seededRandom(seed: number): { uniform(): number; normal(): number } {
  let a = seed >>> 0;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  let spare: number | null = null;
  const normal = (): number => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = uniform();
    const v = uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
  return { uniform, normal };
}

/**
 * Builds the bank from a shift's features (rows in shift order):
 * 1. the first `nSearch` rows (0: all); exact duplicate rows nudged by N(0, 1e-3);
 * 2. `perClass` rows per class: a class with more keeps its first `perClass`; a class with fewer is filled with
 *    draws from N(class mean, class std) per dimension (sample std; NaN for one row -> 1e-5);
 * 3. an empty class gets one uniform point inside the features' bounding box (redrawn while its L2 norm < 10, at
 *    most 5 tries) plus copies of it with N(0, 0.01) noise;
 * 4. every row L2-normalised.
 */
export function buildKnnBank(
  features: Float32Array,
  labels: Int32Array,
  dim: number,
  options: { numClasses: number; perClass: number; nSearch?: number; seed: number },
): KnnBank {
  const { numClasses, perClass, seed } = options;
  const rnd = seededRandom(seed);
  const rows = Math.min(labels.length, options.nSearch || labels.length);
  const x = features.slice(0, rows * dim);
  // 1. duplicates nudged (a row equal to an earlier one)
  const seen = new Set<string>();
  let nudged = 0;
  for (let i = 0; i < rows; i++) {
    const row = x.subarray(i * dim, (i + 1) * dim);
    const key = Buffer.from(row.buffer, row.byteOffset, row.byteLength).toString('base64');
    if (seen.has(key)) {
      for (let j = 0; j < dim; j++) row[j] = row[j]! + 1e-3 * rnd.normal();
      nudged++;
    } else seen.add(key);
  }
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < rows; i++) {
    const c = labels[i]!;
    if (c < 0 || c >= numClasses) throw new RangeError(`label ${c} of row ${i} is outside 0..${numClasses - 1}`);
    byClass[c]!.push(i);
  }
  const lo = new Float32Array(dim).fill(Infinity);
  const hi = new Float32Array(dim).fill(-Infinity);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < dim; j++) {
      const v = x[i * dim + j]!;
      if (v < lo[j]!) lo[j] = v;
      if (v > hi[j]!) hi[j] = v;
    }
  }
  const total = numClasses * perClass;
  const vectors = new Float32Array(total * dim);
  const outLabels = new Int32Array(total);
  const origin = new Uint8Array(total);
  let real = 0;
  let sampled = 0;
  let empty = 0;
  for (let c = 0; c < numClasses; c++) {
    const members = byClass[c]!;
    const base = c * perClass;
    outLabels.fill(c, base, base + perClass);
    const keep = Math.min(perClass, members.length);
    for (let k = 0; k < keep; k++) vectors.set(x.subarray(members[k]! * dim, (members[k]! + 1) * dim), (base + k) * dim);
    real += keep;
    if (members.length === 0) {
      // 3. one random point in the bounding box with L2 norm >= 10 (at most 5 tries), plus noisy copies
      empty++;
      const point = new Float32Array(dim);
      for (let attempt = 0; attempt < 5; attempt++) {
        let norm = 0;
        for (let j = 0; j < dim; j++) {
          point[j] = lo[j]! + (hi[j]! - lo[j]!) * rnd.uniform();
          norm += point[j]! * point[j]!;
        }
        if (Math.sqrt(norm) >= 10) break;
      }
      for (let k = 0; k < perClass; k++) {
        const o = (base + k) * dim;
        for (let j = 0; j < dim; j++) vectors[o + j] = k === 0 ? point[j]! : point[j]! + 0.01 * rnd.normal();
        origin[base + k] = 2;
      }
    } else if (members.length < perClass) {
      // 2. short class: draws from N(class mean, class std)
      const mean = new Float64Array(dim);
      const sq = new Float64Array(dim);
      for (const m of members) for (let j = 0; j < dim; j++) mean[j]! += x[m * dim + j]!;
      for (let j = 0; j < dim; j++) mean[j]! /= members.length;
      for (const m of members) for (let j = 0; j < dim; j++) sq[j]! += (x[m * dim + j]! - mean[j]!) ** 2;
      const std = Array.from(sq, (s) => (members.length > 1 ? Math.sqrt(s / (members.length - 1)) : 1e-5));
      for (let k = members.length; k < perClass; k++) {
        const o = (base + k) * dim;
        for (let j = 0; j < dim; j++) vectors[o + j] = mean[j]! + std[j]! * rnd.normal();
        origin[base + k] = 1;
        sampled++;
      }
    }
  }
  // 4. L2 normalisation
  for (let i = 0; i < total; i++) {
    const row = vectors.subarray(i * dim, (i + 1) * dim);
    let norm = 0;
    for (let j = 0; j < dim; j++) norm += row[j]! * row[j]!;
    norm = Math.sqrt(norm) || 1;
    for (let j = 0; j < dim; j++) row[j] = row[j]! / norm;
  }
  return { dim, perClass, vectors, labels: outLabels, origin, stats: { realRows: real, sampledRows: sampled, emptyClasses: empty, nudgedDuplicates: nudged, seed } };
}
