#!/usr/bin/env node
// Where SemDeDup's time goes, piece by piece, ours next to numpy's (one process each, same data): the k-means
// assignment GEMM (rows x k x dim, by A-chunk size), the centroid update of one Lloyd iteration, and the
// per-cluster earlier-match step (SemDeDup's `triu(X Xᵀ, 1).max(0)`) by cluster size and triangle bands.
//
//   node tools/bench/curation/profile_semdedup.mjs [--rows 65536] [--k 1000] [--repeats 5]
//
// Needs `npx nx run @select/curation-filters:build` and the project's Python (numpy). Prints JSON lines.
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { OnnxSimilarityKernel, SeededRandom, normalizeRows } from '@select/curation-filters';
import { median, peerEnv, projectPython, uptime, wholeOption } from '../lib/bench-kit.mjs';

const { values: flags } = parseArgs({
  options: {
    rows: { type: 'string', default: '65536' },
    k: { type: 'string', default: '1000' },
    dim: { type: 'string', default: '512' },
    repeats: { type: 'string', default: '5' },
    threads: { type: 'string', default: String(availableParallelism()) },
  },
});
const [ROWS, K, D, REPEATS, THREADS] = ['rows', 'k', 'dim', 'repeats', 'threads'].map((f) => wholeOption(f, flags[f]));
const print = (o) => console.log(JSON.stringify(o));
print({ uptime: uptime() });
const random = new SeededRandom(1);
const unit = (rows) => normalizeRows({ data: Float32Array.from({ length: rows * D }, () => random.next() - 0.5), rows, dim: D });
const x = unit(ROWS);
const centroids = unit(K);

async function time(fn) {
  await fn(); // warm-up
  const s = [];
  for (let r = 0; r < REPEATS; r++) {
    const t = performance.now();
    await fn();
    s.push((performance.now() - t) / 1000);
  }
  return median(s);
}

for (const maxBlockEntries of [16_777_216, 4_194_304, 1_048_576]) {
  const kernel = await OnnxSimilarityKernel.open({ threads: THREADS, maxBlockEntries });
  const seconds = await time(() => kernel.nearest(x, centroids));
  print({ step: 'assign nearest', rows: ROWS, k: K, maxBlockEntries, seconds, gflops: (2 * ROWS * K * D) / seconds / 1e9 });
  await kernel.close();
}

{
  // one Lloyd update, as kmeans.ts does it (float64 sums per cluster, then normalise)
  const assignment = Int32Array.from({ length: ROWS }, (_, i) => i % K);
  const seconds = await time(async () => {
    const sums = new Float64Array(K * D);
    for (let i = 0; i < ROWS; i++) {
      const o = i * D;
      const so = assignment[i] * D;
      for (let t = 0; t < D; t++) sums[so + t] += x.data[o + t];
    }
  });
  print({ step: 'centroid update (JS loop)', rows: ROWS, seconds, relativeToAssign: 'compare with assign nearest above' });
}

for (const parts of [1, 4, 8]) {
  const kernel = await OnnxSimilarityKernel.open({ threads: THREADS, triangleParts: parts });
  for (const n of [300, 1000, 3000]) {
    const c = unit(n);
    const seconds = await time(() => kernel.earlierMax(c));
    print({ step: 'earlierMax (one cluster)', n, parts, seconds, fullProductGflops: (2 * n * n * D) / seconds / 1e9 });
  }
  await kernel.close();
}

{
  // the fused whole-cluster scan dedupCluster uses (OnnxSimilarityKernel.scanSet: @select/vector-index selfSimilarity)
  const kernel = await OnnxSimilarityKernel.open({ threads: THREADS });
  for (const n of [300, 1000, 3000]) {
    const c = unit(n);
    const order = Int32Array.from({ length: n }, (_, i) => i);
    const seconds = await time(() => kernel.scanSet(c, order, 0.95, false));
    print({ step: 'scanSet native (one cluster, normalised, best earlier match)', n, seconds, fullProductGflops: (2 * n * n * D) / seconds / 1e9 });
    const withPairs = await time(() => kernel.scanSet(c, order, 0.95, true));
    print({ step: 'scanSet native + pairs above 0.95', n, seconds: withPairs });
  }
  // reading one cluster's rows from a file by positional reads, as semdedup.mjs does (rows ~1,000 apart)
  const { openSync, writeSync, readSync, closeSync, unlinkSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const file = `${tmpdir()}/profile-semdedup-${process.pid}.f32`;
  const fd = openSync(file, 'w+');
  for (let r = 0; r < 8; r++) writeSync(fd, x.data);
  const rows = 8 * ROWS;
  const picked = Int32Array.from({ length: 1000 }, (_, i) => Math.floor((i * rows) / 1000));
  const buf = new Float32Array(1000 * D);
  const bytes = new Uint8Array(buf.buffer);
  const seconds = await time(async () => {
    for (let i = 0; i < picked.length; i++) readSync(fd, bytes, i * 4 * D, 4 * D, picked[i] * 4 * D);
  });
  print({ step: 'readSync 1,000 scattered rows (page cache)', seconds, perRowMicroseconds: (seconds / 1000) * 1e6 });
  closeSync(fd);
  unlinkSync(file);
  await kernel.close();
}

const py = `
import json, time, numpy as np
rng = np.random.default_rng(1)
def unit(r):
    a = rng.standard_normal((r, ${D}), dtype=np.float32); return a / np.linalg.norm(a, axis=1, keepdims=True)
def t(fn, reps=${REPEATS}):
    fn(); s = []
    for _ in range(reps):
        a = time.perf_counter(); fn(); s.append(time.perf_counter() - a)
    return float(np.median(s))
x, c = unit(${ROWS}), unit(${K})
sec = t(lambda: (x @ c.T).argmax(1))
print(json.dumps({'step': 'numpy assign (x @ c.T, argmax)', 'seconds': sec, 'gflops': 2 * ${ROWS} * ${K} * ${D} / sec / 1e9}))
for n in (300, 1000, 3000):
    r = unit(n)
    def semdedup():
        s = r @ r.T; np.fill_diagonal(s, 0.0); return np.triu(s, k=1).max(axis=0)
    sec = t(semdedup)
    print(json.dumps({'step': 'numpy semdedup cluster (r @ r.T, triu, max)', 'n': n, 'seconds': sec, 'fullProductGflops': 2 * n * n * ${D} / sec / 1e9}))
    sec = t(lambda: r @ r.T)
    print(json.dumps({'step': 'numpy r @ r.T alone', 'n': n, 'seconds': sec, 'fullProductGflops': 2 * n * n * ${D} / sec / 1e9}))
`;
process.stdout.write(execFileSync(projectPython(), ['-c', py], { encoding: 'utf8', env: peerEnv(THREADS) }));
print({ uptime: uptime() });
