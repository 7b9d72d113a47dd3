#!/usr/bin/env node
// Contamination-check benchmark: every embedding of a pool against every embedding of an evaluation set
// (ContaminationGate.check: exact search through MLAS GEMM graphs), with edited copies of evaluation
// images planted in the pool (cosine 0.96-0.995 to their source). Reports time, pool rows/s, recall of the
// planted copies (target: every one found) and the other matches above the threshold.
//
//   node tools/bench/curation/contamination.mjs [--n 1000000] [--eval 50000] [--planted 1000] [--threshold 0.95] [--batch 65536]
//
// Needs `npx nx run @select/curation-filters:build` and tools/bench/.venv with numpy (data generation).
// Results: tools/bench/results/contamination.json.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ContaminationGate, OnnxSimilarityKernel } from '@select/curation-filters';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..', '..');
const cache = join(repo, 'tools', 'bench', '.cache', 'curation');
const python = join(repo, 'tools', 'bench', '.venv', 'bin', 'python');
const { values: flags } = parseArgs({
  options: {
    n: { type: 'string', default: '1000000' },
    eval: { type: 'string', default: '50000' },
    planted: { type: 'string', default: '1000' },
    threshold: { type: 'string', default: '0.95' },
    batch: { type: 'string', default: '65536' },
    dim: { type: 'string', default: '512' },
    out: { type: 'string', default: join(repo, 'tools', 'bench', 'results', 'contamination.json') },
  },
});
const N = Number(flags.n);
const M = Number(flags.eval);
const D = Number(flags.dim);
const BATCH = Number(flags.batch);
const log = (...args) => console.log(`[${new Date().toISOString().slice(11, 19)}]`, ...args);
const loadStart = loadavg();

mkdirSync(cache, { recursive: true });
const poolFile = join(cache, `contam-pool-${N}.f32`);
const evalFile = join(cache, `contam-eval-${M}.f32`);
const plantFile = join(cache, `contam-${N}-${M}.json`);
if (!existsSync(plantFile)) {
  log(`writing a ${N}-row pool and a ${M}-row evaluation set with ${flags.planted} planted copies`);
  execFileSync(python, [join(here, 'make_embeddings.py'), 'contamination', '--n', String(N), '--eval', String(M), '--planted', flags.planted, '--dim', String(D), '--out', cache], {
    stdio: 'inherit',
  });
}
const planted = JSON.parse(readFileSync(plantFile, 'utf8')).planted;
const f32 = (file, rows) => {
  const b = readFileSync(file);
  return new Float32Array(b.buffer, b.byteOffset, rows * D);
};
const pool = f32(poolFile, N);
const evalSet = f32(evalFile, M);
// content hashes are not what is measured here: every item gets a distinct placeholder sha256
const sha = (prefix, i) => (prefix + i.toString(16)).padStart(64, '0');

const kernel = await OnnxSimilarityKernel.open();
const gate = new ContaminationGate({ nearDuplicateThreshold: Number(flags.threshold) });
let t = performance.now();
gate.registerSet('eval', Array.from({ length: M }, (_, i) => ({ id: String(i), sha256: sha('e', i), embedding: evalSet.subarray(i * D, (i + 1) * D) })));
const registerSeconds = (performance.now() - t) / 1000;
t = performance.now();
const found = new Map();
for (let start = 0; start < N; start += BATCH) {
  const end = Math.min(N, start + BATCH);
  const samples = [];
  for (let i = start; i < end; i++) samples.push({ id: String(i), sha256: sha('f', i), embedding: pool.subarray(i * D, (i + 1) * D) });
  for (const m of await gate.check(samples, kernel)) found.set(Number(m.sampleId), { evaluationId: Number(m.evaluationId), similarity: m.similarity });
  log(`${end} / ${N} checked, ${found.size} matches, ${(end / ((performance.now() - t) / 1000)).toFixed(0)} rows/s`);
}
const checkSeconds = (performance.now() - t) / 1000;
await kernel.close();
const hits = planted.filter(([row, source]) => found.get(row)?.evaluationId === source).length;
const plantedRows = new Set(planted.map(([row]) => row));
const result = {
  benchmark: 'contamination',
  when: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, loadavgStart: loadStart, loadavgEnd: loadavg() },
  data: { pool: N, eval: M, dim: D, planted: planted.length, threshold: Number(flags.threshold) },
  registerSeconds,
  checkSeconds,
  poolRowsPerSecond: N / checkSeconds,
  recall: hits / planted.length,
  otherMatches: [...found.keys()].filter((r) => !plantedRows.has(r)).length,
};
mkdirSync(dirname(flags.out), { recursive: true });
writeFileSync(flags.out, `${JSON.stringify(result, null, 2)}\n`);
log(`check ${checkSeconds.toFixed(1)} s, recall ${result.recall}, other matches ${result.otherMatches}; results in ${flags.out}`);
