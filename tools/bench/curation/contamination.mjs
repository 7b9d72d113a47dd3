#!/usr/bin/env node
// Contamination-check benchmark: every embedding of a pool against every embedding of an evaluation set
// (ContaminationGate.check: exhaustive search, MLAS GEMM blocks through @select/inference), with edited
// copies of evaluation images planted in the pool (cosine 0.96-0.995 to their source, above the gate's 0.95).
// Reports time, pool rows/s, the GFLOP/s reached (2 x pool x eval x dim floating-point operations), recall
// of the planted copies (target: every one found) and the other matches above the threshold.
//
//   node tools/bench/curation/contamination.mjs [--n 1000000] [--eval 50000] [--planted 1000] [--threshold 0.95]
//        [--batch 65536] [--threads <cores>] [--block-rows 4096] [--max-block-entries 4194304] [--repeats 1]
//   smaller:  node tools/bench/curation/contamination.mjs --n 50000 --eval 5000 --planted 200
//
// Memory: the evaluation set (eval x dim float32: 100 MiB at 50,000 x 512) and one pool batch, read from the
// pool file (tools/bench/.cache/curation/contam-pool-<n>.f32) batch by batch — the pool is never held whole.
// Needs `npx nx run @select/curation-filters:build`; data by make_embeddings.py (the project's Python, numpy).
// Results: tools/bench/results/contamination.json.
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ContaminationGate, OnnxSimilarityKernel } from '@select/curation-filters';
import { ROOT, interleave, machineInfo, median, projectPython, refuse, uptime, wholeOption, writeResult } from '../lib/bench-kit.mjs';

const uptimeBefore = uptime();
const { values: flags } = parseArgs({
  options: {
    n: { type: 'string', default: '1000000' },
    eval: { type: 'string', default: '50000' },
    planted: { type: 'string', default: '1000' },
    threshold: { type: 'string', default: '0.95' },
    batch: { type: 'string', default: '65536' },
    dim: { type: 'string', default: '512' },
    threads: { type: 'string', default: String(availableParallelism()) },
    'block-rows': { type: 'string', default: '4096' },
    'max-block-entries': { type: 'string', default: String(4_194_304) },
    repeats: { type: 'string', default: '1' },
  },
});
const [N, M, D, BATCH, THREADS, REPEATS, BLOCK_ROWS, MAX_BLOCK_ENTRIES] = ['n', 'eval', 'dim', 'batch', 'threads', 'repeats', 'block-rows', 'max-block-entries'].map((f) => wholeOption(f, flags[f]));
const PLANTED = wholeOption('planted', flags.planted, 0);
const THRESHOLD = Number(flags.threshold);
if (!(THRESHOLD > 0 && THRESHOLD <= 1)) refuse(`--threshold must be a cosine similarity above 0 and at most 1, got ${JSON.stringify(flags.threshold)}`);
const here = join(ROOT, 'tools', 'bench', 'curation');
const cache = join(ROOT, 'tools', 'bench', '.cache', 'curation');
const log = (...args) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...args);

mkdirSync(cache, { recursive: true });
const poolFile = join(cache, `contam-pool-${N}.f32`);
const evalFile = join(cache, `contam-eval-${M}.f32`);
const plantFile = join(cache, `contam-${N}-${M}.json`);
if (!existsSync(plantFile)) {
  log(`writing a ${N}-row pool and a ${M}-row evaluation set with ${PLANTED} planted copies`);
  execFileSync(projectPython(), [join(here, 'make_embeddings.py'), 'contamination', '--n', String(N), '--eval', String(M), '--planted', String(PLANTED), '--dim', String(D), '--out', cache], {
    stdio: ['ignore', 2, 2],
  });
}
const planted = JSON.parse(readFileSync(plantFile, 'utf8')).planted;
const evalBytes = readFileSync(evalFile);
const evalSet = new Float32Array(evalBytes.buffer, evalBytes.byteOffset, M * D);
// content hashes are not what is measured here: every item gets a distinct placeholder sha256
const sha = (prefix, i) => (prefix + i.toString(16)).padStart(64, '0');

const kernel = await OnnxSimilarityKernel.open({ threads: THREADS, blockRows: BLOCK_ROWS, maxBlockEntries: MAX_BLOCK_ENTRIES });
const gate = new ContaminationGate({ nearDuplicateThreshold: THRESHOLD });
let t = performance.now();
gate.registerSet('eval', Array.from({ length: M }, (_, i) => ({ id: String(i), sha256: sha('e', i), embedding: evalSet.subarray(i * D, (i + 1) * D) })));
const registerSeconds = (performance.now() - t) / 1000;

const fd = openSync(poolFile, 'r');
const batchBuffer = new Float32Array(BATCH * D);
let found;
async function check() {
  found = new Map();
  const start0 = performance.now();
  for (let start = 0; start < N; start += BATCH) {
    const end = Math.min(N, start + BATCH);
    const bytes = new Uint8Array(batchBuffer.buffer, 0, (end - start) * 4 * D);
    let done = 0;
    while (done < bytes.length) done += readSync(fd, bytes, done, bytes.length - done, start * 4 * D + done);
    const samples = [];
    for (let i = start; i < end; i++) samples.push({ id: String(i), sha256: sha('f', i), embedding: batchBuffer.subarray((i - start) * D, (i - start + 1) * D) });
    for (const m of await gate.check(samples, kernel)) found.set(Number(m.sampleId), { evaluationId: Number(m.evaluationId), similarity: m.similarity });
    const elapsed = (performance.now() - start0) / 1000;
    log(`${end} / ${N} checked, ${found.size} matches, ${(end / elapsed).toFixed(0)} rows/s, ${((2 * end * M * D) / elapsed / 1e9).toFixed(1)} GFLOP/s`);
  }
  return { seconds: (performance.now() - start0) / 1000 };
}
const runs = await interleave({ ours: check }, REPEATS, log);
await kernel.close();
closeSync(fd);

const seconds = runs.ours.map((r) => r.seconds);
const best = Math.min(...seconds);
const hits = planted.filter(([row, source]) => found.get(row)?.evaluationId === source).length;
const plantedRows = new Set(planted.map(([row]) => row));
const missed = planted.filter(([row, source]) => found.get(row)?.evaluationId !== source).slice(0, 20);
writeResult('contamination', {
  benchmark: 'contamination',
  when: new Date().toISOString(),
  machine: machineInfo(),
  uptimeBefore,
  uptimeAfter: uptime(),
  threads: THREADS,
  repeats: REPEATS,
  data: { pool: N, eval: M, dim: D, planted: planted.length, threshold: THRESHOLD },
  kernel: { blockRows: BLOCK_ROWS, maxBlockEntries: MAX_BLOCK_ENTRIES, batch: BATCH },
  registerSeconds,
  secondsPerRun: seconds,
  medianSeconds: median(seconds),
  poolRowsPerSecond: N / median(seconds),
  gflopsPerSecond: { median: (2 * N * M * D) / median(seconds) / 1e9, best: (2 * N * M * D) / best / 1e9 },
  multiplyAdds: N * M * D,
  recall: hits / planted.length,
  missed,
  otherMatches: [...found.keys()].filter((r) => !plantedRows.has(r)).length,
  target: 'recall 1.0 (every planted copy found, matched to its own source)',
});
