#!/usr/bin/env node
// The exact-search kernel alone, in-process (no gRPC), against numpy's matmul and FAISS IndexFlatIP on the
// same shapes: every kernel @select/vector-index runs on this CPU (avx512f / avx2+fma / generic), as GFLOP/s
// (2 x queries x n x dim floating-point operations per search, the top-k selection included for ours and
// FAISS's; numpy's is the bare product, in blocks of 16,384 stored vectors).
//
//   node tools/bench/retrieval/exact_kernel.mjs [--n 100000] [--queries 2000] [--dim 512] [--k 10] [--repeats 3]
//        [--threads 2] [--kernels avx512f,avx2+fma] [--name NAME] [--peer-coretype auto]
//
// Uses the data files run.mjs caches (it runs make_data.py for the size if they are missing). The peers run
// from tools/bench/.venv with their BLAS at full speed (peer-blas.mjs: the handicaps removed, the fastest
// core type measured; --peer-coretype overrides), and the BLAS kernel they ran is recorded (threadpoolctl).
// Passes are interleaved (ours, numpy, FAISS, ours, ...) and each figure is the best of --repeats, both
// per wall second and per CPU-second (the latter holds up on a shared machine). Without --name the result
// is printed only; with it, it is also written to tools/bench/results/<name>.json.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { addSpecDefaults, exactKernels, VectorIndex } from '@select/vector-index';
import { machineInfo, resultName, uptime, wholeOption, writeResult } from '../lib/bench-kit.mjs';
import { fastestPeerEnv } from './peer-blas.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..', '..');
const cache = join(repo, 'tools', 'bench', '.cache', 'retrieval');
const python = join(repo, 'tools', 'bench', '.venv', 'bin', 'python');
const { values: flags } = parseArgs({
  options: {
    n: { type: 'string', default: '100000' },
    queries: { type: 'string', default: '2000' },
    dim: { type: 'string', default: '512' },
    k: { type: 'string', default: '10' },
    repeats: { type: 'string', default: '3' },
    threads: { type: 'string', default: String(availableParallelism()) },
    kernels: { type: 'string' },
    name: { type: 'string' },
    'peer-coretype': { type: 'string', default: 'auto' },
  },
});
const [N, Q, D, K, R, T] = ['n', 'queries', 'dim', 'k', 'repeats', 'threads'].map((f) => wholeOption(f, flags[f]));
if (flags.name !== undefined) resultName(flags.name);
const log = (...a) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...a);
const gflops = (seconds) => (2 * Q * N * D) / seconds / 1e9;

const basePath = join(cache, `base-${N}.f32`);
const queryPath = join(cache, `queries-${Q}.f32`);
if (!existsSync(basePath) || !existsSync(queryPath)) {
  execFileSync(python, [join(here, 'make_data.py'), '--n', String(N), '--queries', String(Q), '--dim', String(D), '--out', cache], {
    stdio: ['ignore', 2, 2],
  });
}

const PEER = `
import json, sys, time
import numpy as np, faiss, threadpoolctl
n, q, d, k, repeats, threads, which = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8]), sys.argv[9]
xb = np.fromfile(sys.argv[1], dtype=np.float32)[: n * d].reshape(n, d)
xq = np.fromfile(sys.argv[2], dtype=np.float32)[: q * d].reshape(q, d)
faiss.omp_set_num_threads(threads)
def numpy_matmul():
    out = np.empty((q, 16384), dtype=np.float32)
    for s in range(0, n, 16384):
        e = min(n, s + 16384)
        np.matmul(xq, xb[s:e].T, out=out[:, : e - s])
if which == "numpy":
    run = numpy_matmul
else:
    flat = faiss.IndexFlatIP(d)
    flat.add(xb)
    run = lambda: flat.search(xq, k)
run()
t, c = time.perf_counter(), time.process_time(); run(); seconds, cpu = time.perf_counter() - t, time.process_time() - c
blas = [{key: i.get(key) for key in ("internal_api", "version", "architecture", "num_threads")} for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "blas": blas}))
`;

const peerChoice = fastestPeerEnv(python, T, flags['peer-coretype'], log);

function peer(which) {
  const args = ['-c', PEER, basePath, queryPath, String(N), String(Q), String(D), String(K), '1', String(T), which];
  return JSON.parse(execFileSync(python, args, { env: peerChoice.env, encoding: 'utf8' }).trim().split('\n').pop());
}

const before = uptime();
const readF32 = (path, count) => new Float32Array(readFileSync(path).buffer.slice(0, count * D * 4));
const base = readF32(basePath, N);
const queries = readF32(queryPath, Q);
const index = new VectorIndex(addSpecDefaults({ dimension: D, metric: 'inner-product' }), { threads: T });
log(`building the index: ${N} x ${D}`);
const started = performance.now();
for (let s = 0; s < N; s += 10_000) {
  const items = [];
  for (let i = s; i < Math.min(N, s + 10_000); i++) items.push({ id: String(i), vector: base.subarray(i * D, (i + 1) * D) });
  await index.apply(index.prepareAdd(items).batch);
}
log(`built in ${((performance.now() - started) / 1000).toFixed(1)} s; ${uptime()}`);

const kernels = flags.kernels ? flags.kernels.split(',') : exactKernels().filter((k) => k !== 'generic');
const ours = Object.fromEntries(kernels.map((k) => [k, []]));
const oursCpu = Object.fromEntries(kernels.map((k) => [k, []]));
const numpy = [];
const numpyCpu = [];
const faiss = [];
const faissCpu = [];
let blas = null;
let first = null;
for (let r = 0; r < R; r++) {
  for (const kernel of kernels) {
    const t = performance.now();
    const cpu = process.cpuUsage();
    const found = await index.searchFlat(queries, { k: K, exact: true, exactKernel: kernel });
    const seconds = (performance.now() - t) / 1000;
    const { user, system } = process.cpuUsage(cpu);
    ours[kernel].push(seconds);
    oursCpu[kernel].push((user + system) / 1e6);
    // Every kernel must give the same neighbours as the first.
    const ids = found.ids.join(',');
    if (first === null) first = ids;
    else if (ids !== first) log(`!! kernel ${kernel} returned other neighbours than ${kernels[0]}`);
    log(`pass ${r + 1} ours ${kernel}: ${seconds.toFixed(3)} s, ${gflops(seconds).toFixed(1)} GFLOP/s, ${gflops(oursCpu[kernel].at(-1)).toFixed(1)} per CPU-second`);
  }
  const np = peer('numpy');
  numpy.push(np.seconds);
  numpyCpu.push(np.cpu_seconds);
  blas = np.blas;
  log(`pass ${r + 1} numpy matmul: ${np.seconds.toFixed(3)} s, ${gflops(np.seconds).toFixed(1)} GFLOP/s, ${gflops(np.cpu_seconds).toFixed(1)} per CPU-second (${JSON.stringify(np.blas)})`);
  const fs = peer('faiss');
  faiss.push(fs.seconds);
  faissCpu.push(fs.cpu_seconds);
  log(`pass ${r + 1} FAISS IndexFlatIP: ${fs.seconds.toFixed(3)} s, ${gflops(fs.seconds).toFixed(1)} GFLOP/s, ${gflops(fs.cpu_seconds).toFixed(1)} per CPU-second`);
}
const best = (xs) => Math.min(...xs);
const result = {
  when: new Date().toISOString(),
  machine: { ...machineInfo(), uptime_before: before, uptime_after: uptime() },
  params: { n: N, queries: Q, dim: D, k: K, repeats: R, threads: T },
  peer_blas: blas,
  peer_openblas_coretype: peerChoice.choice,
  peer_coretype_probes: peerChoice.probes,
  gflops: {
    ...Object.fromEntries(kernels.map((k) => [`ours ${k}`, gflops(best(ours[k]))])),
    'numpy matmul': gflops(best(numpy)),
    'faiss IndexFlatIP': gflops(best(faiss)),
  },
  // Per CPU-second (all threads of the process): what a core does, whatever share of the cores others took.
  gflops_per_cpu_second: {
    ...Object.fromEntries(kernels.map((k) => [`ours ${k}`, gflops(best(oursCpu[k]))])),
    'numpy matmul': gflops(best(numpyCpu)),
    'faiss IndexFlatIP': gflops(best(faissCpu)),
  },
  seconds: { ...Object.fromEntries(kernels.map((k) => [`ours ${k}`, ours[k]])), 'numpy matmul': numpy, 'faiss IndexFlatIP': faiss },
};
if (flags.name) writeResult(flags.name, result);
else process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
