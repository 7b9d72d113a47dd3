// Deterministic test data: clustered vectors (so that neighbours mean something) and a brute-force
// reference written in the plainest possible way.

/** Mulberry32: a tiny seeded PRNG, so every run sees the same vectors. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function gaussian(next: () => number): number {
  const u = Math.max(next(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
}

/** n x d vectors around `clusters` random centres (row-major). */
export function clusteredVectors(n: number, d: number, options: { clusters?: number; spread?: number; seed?: number } = {}): Float32Array {
  const next = rng(options.seed ?? 1);
  const clusters = options.clusters ?? 20;
  const spread = options.spread ?? 0.3;
  const centres = Array.from({ length: clusters }, () => Array.from({ length: d }, () => gaussian(next)));
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = centres[Math.floor(next() * clusters)]!;
    for (let j = 0; j < d; j++) out[i * d + j] = c[j]! + spread * gaussian(next);
  }
  return out;
}

export function row(vectors: Float32Array, i: number, d: number): Float32Array {
  return vectors.subarray(i * d, (i + 1) * d);
}

export type ReferenceMetric = 'cosine' | 'inner-product' | 'l2';

export function referenceScore(metric: ReferenceMetric, a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  let l2 = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
    l2 += (a[i]! - b[i]!) ** 2;
  }
  if (metric === 'cosine') return dot / Math.sqrt(na * nb);
  if (metric === 'inner-product') return dot;
  return -l2;
}

/** Ids of the k best stored vectors for one query, by brute force in float64. */
export function referenceTopK(
  metric: ReferenceMetric,
  stored: Float32Array,
  ids: readonly string[],
  query: Float32Array,
  k: number,
): { id: string; score: number }[] {
  const d = query.length;
  return ids
    .map((id, i) => ({ id, score: referenceScore(metric, row(stored, i, d), query) }))
    .sort((a, b) => b.score - a.score)
    .slice(0, k);
}
