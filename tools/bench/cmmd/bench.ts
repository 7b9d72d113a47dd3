// CMMD benchmark: the evaluator's blocked CMMD (ONNX Gemm + Exp + ReduceSum via @select/inference, float64 sums
// across blocks) against the reference implementation's formula in numpy (tools/evaluator/cmmd_reference.py), float32
// as the reference runs it and float64, on the same embeddings in the same run. See README.md beside this file.
//
//   npx tsx tools/bench/cmmd/bench.ts [--rows 10000] [--dim 512] [--threads <cores>] [--block 2048] [--repeats 1]
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeNpy } from '@select/datasets';
import { cmmd, Linalg, normalizeRows, SeededRandom, type Matrix } from '@select/evaluator-service';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '10000' },
    dim: { type: 'string', default: '512' },
    threads: { type: 'string', default: String(availableParallelism()) },
    block: { type: 'string', default: '2048' },
    repeats: { type: 'string', default: '1' },
  },
});
const [rows, dim, threads, block, repeats] = ['rows', 'dim', 'threads', 'block', 'repeats'].map((k) => Number(args[k as keyof typeof args]));

function embeddings(seed: number, offset: number): Matrix {
  const rng = new SeededRandom(seed);
  const data = Float32Array.from({ length: rows * dim }, (_, i) => rng.normal() + (i % dim < 8 ? offset : 0));
  return normalizeRows({ data, rows, cols: dim });
}

const cache = join(ROOT, 'tools/bench/.cache/cmmd', `${rows}x${dim}`);
mkdirSync(cache, { recursive: true });
const x = embeddings(1, 0);
const y = embeddings(2, 0.3);
await writeNpy(join(cache, 'x.npy'), x.data, { dim });
await writeNpy(join(cache, 'y.npy'), y.data, { dim });
const python = execFileSync('bash', ['scripts/python-env.sh'], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n').pop()!;
const env = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) };
const linalg = await Linalg.open({ threads, blockRows: block });
const runs: Record<string, number[]> = { ours: [], 'numpy-float32': [], 'numpy-float64': [] };
const values: Record<string, number> = {};
for (let r = 0; r < repeats; r++) {
  const start = performance.now();
  values['ours'] = await cmmd(linalg, x, y);
  runs['ours']!.push((performance.now() - start) / 1000);
  for (const dtype of ['float32', 'float64']) {
    const out = JSON.parse(execFileSync(python, [join(ROOT, 'tools/evaluator/cmmd_reference.py'), join(cache, 'x.npy'), join(cache, 'y.npy'), '--dtype', dtype], { encoding: 'utf8', env }).trim()) as { cmmd: number; seconds: number };
    runs[`numpy-${dtype}`]!.push(out.seconds);
    values[`numpy-${dtype}`] = out.cmmd;
  }
}
await linalg.close();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const result = {
  benchmark: 'cmmd',
  shape: { rows, dim, sigma: 10, scale: 1000 },
  machine: { cpu: cpus()[0]?.model, cores: availableParallelism(), memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, loadavg: loadavg() },
  threads,
  secondsPerRun: runs,
  medianSeconds: Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, median(v)])),
  speedup: Object.fromEntries(Object.entries(runs).filter(([k]) => k !== 'ours').map(([k, v]) => [`vs ${k}`, median(v) / median(runs['ours']!)])),
  values,
  relativeDifferenceToFloat64: Math.abs(values['ours']! - values['numpy-float64']!) / Math.abs(values['numpy-float64']!),
};
mkdirSync(join(ROOT, 'tools/bench/results'), { recursive: true });
writeFileSync(join(ROOT, 'tools/bench/results/cmmd.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
