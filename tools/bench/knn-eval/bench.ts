// kNN evaluation benchmark: SELECT's weighted kNN (bank x queries x dim, k up to 200) through the evaluator's
// code (ONNX MatMul + TopK via @select/inference, then the vote in TypeScript) against numpy and PyTorch-CPU
// running the same formula on the same features in the same run. See README.md beside this file.
//
//   npx tsx tools/bench/knn-eval/bench.ts [--bank 10000] [--queries 50000] [--dim 512] [--classes 1000]
//        [--threads <cores>] [--block 2048] [--chunk 1000] [--repeats 1]
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeNpy } from '@select/datasets';
import { KnnAccumulator, Linalg, normalizeRows, SeededRandom, transpose, type Matrix } from '@select/evaluator-service';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const { values: args } = parseArgs({
  options: {
    bank: { type: 'string', default: '10000' },
    queries: { type: 'string', default: '50000' },
    dim: { type: 'string', default: '512' },
    classes: { type: 'string', default: '1000' },
    threads: { type: 'string', default: String(availableParallelism()) },
    block: { type: 'string', default: '2048' },
    chunk: { type: 'string', default: '1000' },
    repeats: { type: 'string', default: '1' },
  },
});
const [nBank, nQueries, dim, classes, threads, block, chunk, repeats] = ['bank', 'queries', 'dim', 'classes', 'threads', 'block', 'chunk', 'repeats'].map((k) => Number(args[k as keyof typeof args]));
const KS = [10, 20, 100, 200];
const T = 0.07;

/** Clustered features: each class has a centre; samples are centre + noise, L2-normalised (like a real encoder's). */
function features(rows: number, seed: number, centres: Float32Array): { m: Matrix; labels: Int32Array } {
  const rng = new SeededRandom(seed);
  const data = new Float32Array(rows * dim);
  const labels = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const c = r % classes;
    labels[r] = c;
    for (let j = 0; j < dim; j++) data[r * dim + j] = centres[c * dim + j]! + 1.5 * rng.normal();
  }
  return { m: normalizeRows({ data, rows, cols: dim }), labels };
}

const cache = join(ROOT, 'tools/bench/.cache/knn-eval', `${nBank}x${nQueries}x${dim}`);
mkdirSync(cache, { recursive: true });
const rng = new SeededRandom(1);
const centres = Float32Array.from({ length: classes * dim }, () => rng.normal() / Math.sqrt(dim) * 4);
const bank = features(nBank, 2, centres);
const queries = features(nQueries, 3, centres);
await writeNpy(join(cache, 'bank.npy'), bank.m.data, { dim });
await writeNpy(join(cache, 'bank_labels.npy'), Float32Array.from(bank.labels), { dim: 1 });
await writeNpy(join(cache, 'queries.npy'), queries.m.data, { dim });
await writeNpy(join(cache, 'query_labels.npy'), Float32Array.from(queries.labels), { dim: 1 });

const python = execFileSync('bash', ['scripts/python-env.sh'], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n').pop()!;
const linalg = await Linalg.open({ threads, blockRows: block });
const runs: Record<string, number[]> = { ours: [], numpy: [], 'torch-cpu': [] };
let oursScores: Array<{ k: number; top1: number; top5: number }> = [];
const peerScores: Record<string, { top1: Record<string, number>; top5: Record<string, number> }> = {};
for (let r = 0; r < repeats; r++) {
  const start = performance.now();
  const acc = new KnnAccumulator({ ks: KS, temperature: T, classes, bankLabels: bank.labels });
  const neighbours = await linalg.topK(queries.m, transpose(bank.m), acc.maxK);
  acc.add(neighbours, queries.labels);
  oursScores = acc.scores();
  runs['ours']!.push((performance.now() - start) / 1000);
  const env = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) };
  const out = execFileSync(python, [join(ROOT, 'tools/bench/knn-eval/knn_peers.py'), cache, KS.join(','), String(T), String(chunk)], { encoding: 'utf8', env, maxBuffer: 1 << 24 });
  for (const line of out.trim().split('\n')) {
    const p = JSON.parse(line) as { name: string; seconds: number; top1: Record<string, number>; top5: Record<string, number> };
    runs[p.name]!.push(p.seconds);
    peerScores[p.name] = p;
  }
}
await linalg.close();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const agree = Object.fromEntries(Object.entries(peerScores).map(([name, p]) => [name, oursScores.every((s) => Math.abs(s.top1 - p.top1[String(s.k)]!) < 0.05 && Math.abs(s.top5 - p.top5[String(s.k)]!) < 0.05)]));
const result = {
  benchmark: 'knn-eval',
  shape: { bank: nBank, queries: nQueries, dim, classes, ks: KS, temperature: T },
  machine: { cpu: cpus()[0]?.model, cores: availableParallelism(), memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, loadavg: loadavg() },
  threads,
  secondsPerRun: runs,
  medianSeconds: Object.fromEntries(Object.entries(runs).filter(([, v]) => v.length).map(([k, v]) => [k, median(v)])),
  speedup: Object.fromEntries(Object.entries(runs).filter(([k, v]) => k !== 'ours' && v.length).map(([k, v]) => [`vs ${k}`, median(v) / median(runs['ours']!)])),
  scores: oursScores,
  sameScoresAsPeers: agree,
};
mkdirSync(join(ROOT, 'tools/bench/results'), { recursive: true });
writeFileSync(join(ROOT, 'tools/bench/results/knn-eval.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
