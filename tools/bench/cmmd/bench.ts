// CMMD benchmark: the evaluator's blocked CMMD (ONNX Gemm + Exp + ReduceSum via @select/inference, float64 sums
// across blocks) against the reference implementation's formula in numpy (tools/evaluator/cmmd_reference.py), float32
// as the reference runs it and float64, on the same embeddings in the same run. See README.md beside this file.
//
//   npx tsx tools/bench/cmmd/bench.ts [--rows 10000] [--dim 512] [--threads <cores>] [--block 2048] [--repeats 3]
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeNpy } from '@select/datasets';
import { cmmd, Linalg, normalizeRows, SeededRandom, type Matrix } from '@select/evaluator-service';
// @ts-expect-error plain ESM module without types
import { ROOT, interleave, machineInfo, median, pairedRatios, peerEnv, projectPython, pythonBlasInfo, uptime, wholeOption, writeResult } from '../lib/bench-kit.mjs';

const uptimeBefore = uptime();
const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '10000' },
    dim: { type: 'string', default: '512' },
    threads: { type: 'string', default: String(availableParallelism()) },
    block: { type: 'string', default: '2048' },
    repeats: { type: 'string', default: '3' },
  },
});
const [rows, dim, threads, block, repeats] = ['rows', 'dim', 'threads', 'block', 'repeats'].map((k): number => wholeOption(k, args[k as keyof typeof args]));

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
const python: string = projectPython();
const env = peerEnv(threads);
const linalg = await Linalg.open({ threads, blockRows: block });
const values: Record<string, number> = {};
const peer = (dtype: string) => async (): Promise<{ seconds: number }> => {
  const out = JSON.parse(execFileSync(python, [join(ROOT, 'tools/evaluator/cmmd_reference.py'), join(cache, 'x.npy'), join(cache, 'y.npy'), '--dtype', dtype], { encoding: 'utf8', env }).trim()) as { cmmd: number; seconds: number };
  values[`numpy-${dtype}`] = out.cmmd;
  return { seconds: out.seconds };
};
const runs = (await interleave(
  {
    ours: async () => {
      const start = performance.now();
      values['ours'] = await cmmd(linalg, x, y);
      return { seconds: (performance.now() - start) / 1000 };
    },
    'numpy-float32': peer('float32'),
    'numpy-float64': peer('float64'),
  },
  repeats,
)) as Record<string, Array<{ seconds: number }>>;
await linalg.close();
const seconds = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, v.map((r) => r.seconds)]));
writeResult('cmmd', {
  benchmark: 'cmmd',
  shape: { rows, dim, sigma: 10, scale: 1000 },
  machine: machineInfo(),
  uptimeBefore,
  uptimeAfter: uptime(),
  threads,
  repeats,
  order: 'contenders interleaved, order rotating per repeat',
  peerBlas: pythonBlasInfo(python, env, ['numpy']),
  secondsPerRun: seconds,
  medianSeconds: Object.fromEntries(Object.entries(seconds).map(([k, v]) => [k, median(v)])),
  pairedSpeedup: { 'vs numpy-float32': pairedRatios(seconds['ours']!, seconds['numpy-float32']!), 'vs numpy-float64': pairedRatios(seconds['ours']!, seconds['numpy-float64']!) },
  target: 'ours >= 1.0x numpy (paired ratio numpy seconds / ours seconds), every repeat',
  values,
  relativeDifferenceToFloat64: Math.abs(values['ours']! - values['numpy-float64']!) / Math.abs(values['numpy-float64']!),
});
