// kNN evaluation benchmark: SELECT's weighted kNN (bank x queries x dim, k up to 200) through the evaluator's
// code (ONNX MatMul + TopK via @select/inference, then the vote in TypeScript) against numpy and PyTorch-CPU
// running the same formula on the same features in the same run. See README.md beside this file.
//
//   npx tsx tools/bench/knn-eval/bench.ts [--bank 10000] [--queries 50000] [--dim 512] [--classes 1000]
//        [--threads <cores>] [--block 2048] [--chunk 1000] [--repeats 1]
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeNpy } from '@select/datasets';
import { KnnAccumulator, Linalg, normalizeRows, SeededRandom, transpose, type Matrix } from '@select/evaluator-service';
// @ts-expect-error plain ESM module without types
import { ROOT, interleave, machineInfo, median, pairedRatios, peerEnv, projectPython, pythonBlasInfo, uptime, wholeOption, writeResult } from '../lib/bench-kit.mjs';

const uptimeBefore = uptime();
const { values: args } = parseArgs({
  options: {
    bank: { type: 'string', default: '10000' },
    queries: { type: 'string', default: '50000' },
    dim: { type: 'string', default: '512' },
    classes: { type: 'string', default: '1000' },
    threads: { type: 'string', default: String(availableParallelism()) },
    block: { type: 'string', default: '2048' },
    chunk: { type: 'string', default: '1000' },
    repeats: { type: 'string', default: '3' },
  },
});
const [nBank, nQueries, dim, classes, threads, block, chunk, repeats] = ['bank', 'queries', 'dim', 'classes', 'threads', 'block', 'chunk', 'repeats'].map((k): number => wholeOption(k, args[k as keyof typeof args]));
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
    for (let j = 0; j < dim; j++) data[r * dim + j] = centres[c * dim + j]! + 0.6 * rng.normal();
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

const python: string = projectPython();
const env = peerEnv(threads);
const linalg = await Linalg.open({ threads, blockRows: block });
type Run = { seconds: number; top1?: Record<string, number>; top5?: Record<string, number> };
let oursScores: Array<{ k: number; top1: number; top5: number }> = [];
const peerScores: Record<string, Run> = {};
// one peer process runs numpy then PyTorch; the two are one contender here (the script prints both timings)
let pending: Record<string, Run> = {};
const peers = async (): Promise<Run> => {
  const out = execFileSync(python, [join(ROOT, 'tools/bench/knn-eval/knn_peers.py'), cache, KS.join(','), String(T), String(chunk)], { encoding: 'utf8', env, maxBuffer: 1 << 24 });
  pending = {};
  for (const line of out.trim().split('\n')) {
    const p = JSON.parse(line) as { name: string } & Run;
    pending[p.name] = p;
    peerScores[p.name] = p;
  }
  return { seconds: pending['numpy']!.seconds };
};
// one untimed pass over the first query block: onnxruntime builds its session for the block shape on first use
// (the peers' timings likewise start after their imports)
{
  const warm = { data: queries.m.data.subarray(0, Math.min(block, nQueries) * dim), rows: Math.min(block, nQueries), cols: dim };
  await linalg.topK(warm, transpose(bank.m), Math.max(...KS));
}
const torchRuns: number[] = [];
const runs = (await interleave(
  {
    ours: async (): Promise<Run> => {
      const start = performance.now();
      const acc = new KnnAccumulator({ ks: KS, temperature: T, classes, bankLabels: bank.labels });
      const neighbours = await linalg.topK(queries.m, transpose(bank.m), acc.maxK);
      acc.add(neighbours, queries.labels);
      oursScores = acc.scores();
      return { seconds: (performance.now() - start) / 1000 };
    },
    peers: async (): Promise<Run> => {
      const r = await peers();
      if (pending['torch-cpu']) torchRuns.push(pending['torch-cpu'].seconds);
      return r;
    },
  },
  repeats,
)) as Record<string, Run[]>;
await linalg.close();
const ours = runs['ours']!.map((r) => r.seconds);
const numpy = runs['peers']!.map((r) => r.seconds);
const agree = Object.fromEntries(Object.entries(peerScores).map(([name, p]) => [name, oursScores.every((s) => Math.abs(s.top1 - p.top1![String(s.k)]!) < 0.05 && Math.abs(s.top5 - p.top5![String(s.k)]!) < 0.05)]));
writeResult('knn-eval', {
  benchmark: 'knn-eval',
  shape: { bank: nBank, queries: nQueries, dim, classes, ks: KS, temperature: T },
  machine: machineInfo(),
  uptimeBefore,
  uptimeAfter: uptime(),
  threads,
  repeats,
  order: 'contenders interleaved, order rotating per repeat (ours, peers / peers, ours / ...); the peer process runs numpy then PyTorch',
  peerBlas: pythonBlasInfo(python, env, ['numpy', 'torch']),
  secondsPerRun: { ours, numpy, 'torch-cpu': torchRuns },
  medianSeconds: { ours: median(ours), numpy: median(numpy), 'torch-cpu': median(torchRuns) },
  pairedSpeedup: { 'vs numpy': pairedRatios(ours, numpy), ...(torchRuns.length === ours.length ? { 'vs torch-cpu': pairedRatios(ours, torchRuns) } : {}) },
  target: 'ours >= 1.0x numpy (paired ratio numpy seconds / ours seconds), every repeat',
  scores: oursScores,
  sameScoresAsPeers: agree,
});
