#!/usr/bin/env node
// SemDeDup benchmark: @select/curation-filters (our spherical k-means with Hamerly's bounds on MLAS GEMM
// graphs, the streaming assignment and the per-cluster SemDeDup on @select/vector-index's native blocked
// kernels: bestMatches, selfSimilarity) against the Python SemDeDup (faiss k-means + numpy per-cluster similarities, semdedup_peer.py)
// on the same embeddings, same k, ε, iterations and keep order (farthest from the centroid first, the code
// rule `triu(S, 1).max(0) > 1 - ε`), interleaved over repeats in the same run.
//
//   node tools/bench/curation/semdedup.mjs [--n 1000000] [--k 1000] [--eps 0.05] [--niter 20] [--repeats 3]
//        [--threads <cores>] [--dim 512] [--seed 0] [--peer-coretype SkylakeX]
//   smaller:  node tools/bench/curation/semdedup.mjs --n 100000 --k 100 --repeats 1
//
// Both sides read the embeddings from one float32 file (tools/bench/.cache/curation/semdedup-<n>.f32) and
// never hold it whole: ours reads the k-means sample's rows, then 16,384-row chunks for the assignment, then
// each cluster's rows (positional reads, the next cluster's read overlapping the current one's GEMM); the
// peer maps it (np.memmap, as SemDeDup's own code does) and faiss/numpy read what they touch.
// Memory (ours): the sample (256 x k rows: 512 MiB at k 1000), two assignment chunks, one cluster, and the
// per-row cluster/similarity arrays (8 bytes a row).
//
// "Same duplicates": the two k-means are seeded differently, so the script also runs our de-duplication on
// the peer's clusters (its assignment and centroid similarities) and compares the removed rows with the
// peer's (`sameClusters.identical`); where they differ (a row's best earlier similarity within float32
// rounding of 1 - ε), `sameClusters.differences` gives that similarity in float64 and whose decision it matches.
// Needs: `npx nx run @select/curation-filters:build` and tools/bench/.venv with faiss-cpu, numpy and
// threadpoolctl (python3 -m venv tools/bench/.venv && tools/bench/.venv/bin/pip install faiss-cpu numpy threadpoolctl).
// Results: tools/bench/results/semdedup.json.
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { OnnxSimilarityKernel, dedupCluster, sampleIndices, trainKMeans } from '@select/curation-filters';
import { ROOT, interleave, machineInfo, median, pairedRatios, peerEnv, projectPython, pythonBlasInfo, refuse, uptime, wholeOption, writeResult } from '../lib/bench-kit.mjs';

const uptimeBefore = uptime();
const { values: flags } = parseArgs({
  options: {
    n: { type: 'string', default: '1000000' },
    k: { type: 'string', default: '1000' },
    eps: { type: 'string', default: '0.05' },
    niter: { type: 'string', default: '20' },
    dim: { type: 'string', default: '512' },
    seed: { type: 'string', default: '0' },
    repeats: { type: 'string', default: '3' },
    threads: { type: 'string', default: String(availableParallelism()) },
    'peer-coretype': { type: 'string', default: 'SkylakeX' },
  },
});
const [N, K, NITER, D, REPEATS, THREADS] = ['n', 'k', 'niter', 'dim', 'repeats', 'threads'].map((f) => wholeOption(f, flags[f]));
const SEED = wholeOption('seed', flags.seed, 0);
const EPS = Number(flags.eps);
if (!(EPS > 0 && EPS < 1)) refuse(`--eps must be a cosine distance between 0 and 1, got ${JSON.stringify(flags.eps)}`);
const here = join(ROOT, 'tools', 'bench', 'curation');
const cache = join(ROOT, 'tools', 'bench', '.cache', 'curation');
const venvPython = join(ROOT, 'tools', 'bench', '.venv', 'bin', 'python');
const log = (...args) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...args);
const ROW_BYTES = 4 * D;
const CHUNK_ROWS = 16384;

mkdirSync(cache, { recursive: true });
const dataFile = join(cache, `semdedup-${N}.f32`);
if (!existsSync(join(cache, `semdedup-${N}.json`))) {
  log(`writing ${N} x ${D} embeddings with planted near-duplicates`);
  execFileSync(projectPython(), [join(here, 'make_embeddings.py'), 'semdedup', '--n', String(N), '--dim', String(D), '--out', cache], { stdio: ['ignore', 2, 2] });
}
const planted = JSON.parse(readFileSync(join(cache, `semdedup-${N}.json`), 'utf8')).planted;
// faiss-cpu's wheel bundles its own OpenBLAS (0.3.15), which does not recognise this Zen 5 CPU and falls back
// to its Barcelona (pre-AVX) kernels: the peer gets the kernel numpy's current OpenBLAS picks here by itself
// (SkylakeX, AVX-512), which ran faiss's search 1.5-2x faster. --peer-coretype '' leaves it to autodetection.
const env = peerEnv(THREADS, flags['peer-coretype'] ? { OPENBLAS_CORETYPE: flags['peer-coretype'] } : {});
const peerDir = join(cache, `peer-${N}-${K}`);
const kernel = await OnnxSimilarityKernel.open({ threads: THREADS });
const fd = openSync(dataFile, 'r');

/** Reads the given rows (ascending) of the data file into `out`, one read per run of consecutive rows. */
function readRows(rows, out) {
  const bytes = new Uint8Array(out.buffer, out.byteOffset, rows.length * ROW_BYTES);
  let i = 0;
  while (i < rows.length) {
    let j = i + 1;
    while (j < rows.length && rows[j] === rows[j - 1] + 1) j++;
    const length = (j - i) * ROW_BYTES;
    let done = 0;
    while (done < length) done += readSync(fd, bytes, i * ROW_BYTES + done, length - done, rows[i] * ROW_BYTES + done);
    i = j;
  }
  return out;
}

function readRange(start, end, out) {
  const bytes = new Uint8Array(out.buffer, out.byteOffset, (end - start) * ROW_BYTES);
  let done = 0;
  while (done < bytes.length) done += readSync(fd, bytes, done, bytes.length - done, start * ROW_BYTES + done);
  return out;
}

/** SemDeDup's code rule per cluster, farthest from the centroid first; returns the removed row numbers. */
async function dedupAll(clusterOf, simOf) {
  const counts = new Int32Array(K + 1);
  for (const c of clusterOf) counts[c + 1]++;
  for (let c = 0; c < K; c++) counts[c + 1] += counts[c];
  const rowsByCluster = new Int32Array(N);
  const fill = counts.slice();
  for (let i = 0; i < N; i++) rowsByCluster[fill[clusterOf[i]]++] = i; // ascending within a cluster
  const load = (c) => {
    const members = rowsByCluster.subarray(counts[c], counts[c + 1]);
    if (members.length < 2) return undefined;
    const centroidSimilarity = new Float32Array(members.length);
    const ids = new Array(members.length);
    for (let i = 0; i < members.length; i++) {
      centroidSimilarity[i] = simOf[members[i]];
      ids[i] = String(members[i]).padStart(9, '0');
    }
    return { ids, vectors: { data: readRows(members, new Float32Array(members.length * D)), rows: members.length, dim: D }, centroidSimilarity };
  };
  const removed = [];
  let next = load(0);
  for (let c = 0; c < K; c++) {
    const members = next;
    // the kernel computes in its worker thread: the next cluster is read meanwhile
    const pending = members && dedupCluster(members, { eps: EPS, rule: 'semdedup', order: 'farthest-centroid' }, kernel);
    next = c + 1 < K ? load(c + 1) : undefined;
    if (pending) for (const r of (await pending).removed) removed.push(Number(r.id));
  }
  return new Set(removed);
}

let oursLast;
async function ours() {
  const times = {};
  const cpu0 = process.cpuUsage(); // every thread of the process: the kernel's worker included
  let t = performance.now();
  const sampleRows = sampleIndices(N, Math.min(N, 256 * K), SEED);
  const sample = readRows(sampleRows, new Float32Array(sampleRows.length * D));
  const training = await trainKMeans({ data: sample, rows: sampleRows.length, dim: D }, { k: K, iterations: NITER, seed: SEED }, kernel);
  times.kmeans = (performance.now() - t) / 1000;
  t = performance.now();
  const assign = new Int32Array(N);
  const sim = new Float32Array(N);
  const buffers = [new Float32Array(CHUNK_ROWS * D), new Float32Array(CHUNK_ROWS * D)];
  let pending;
  for (let start = 0, b = 0; start < N; start += CHUNK_ROWS, b ^= 1) {
    const end = Math.min(N, start + CHUNK_ROWS);
    const chunk = readRange(start, end, buffers[b]); // read while the previous chunk is assigned
    const at = start;
    await pending; // one chunk in the kernel at a time (it reads the chunk in place)
    pending = training.model.assign({ data: chunk.subarray(0, (end - start) * D), rows: end - start, dim: D }, kernel).then((part) => {
      assign.set(part.cluster, at);
      sim.set(part.similarity, at);
    });
  }
  await pending;
  times.assign = (performance.now() - t) / 1000;
  t = performance.now();
  const removed = await dedupAll(assign, sim);
  times.dedup = (performance.now() - t) / 1000;
  const seconds = times.kmeans + times.assign + times.dedup;
  const cpu = process.cpuUsage(cpu0);
  oursLast = { times, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, removed: removed.size, kmeansIterations: training.iterations, kmeansReseeded: training.reseeded, kmeansSkippedRows: training.skippedRows, plantedFound: plantedFound(removed) };
  log('ours', times, `removed ${removed.size}`);
  return { seconds };
}

let peerLast;
function peer() {
  const args = [join(here, 'semdedup_peer.py'), dataFile, '--n', String(N), '--dim', String(D), '--k', String(K), '--eps', String(EPS), '--niter', String(NITER), '--seed', String(SEED), '--out', peerDir];
  const out = JSON.parse(execFileSync(venvPython, args, { encoding: 'utf8', env, maxBuffer: 1 << 24 }).trim().split('\n').at(-1));
  const seconds = out.times.kmeans + out.times.assign + out.times.dedup;
  peerLast = { ...out, seconds };
  log('peer', out.times, `removed ${out.removed}`);
  return { seconds };
}

const plantedFound = (removed) => planted.filter(([s, d]) => removed.has(s) || removed.has(d)).length;

const runs = await interleave({ ours, peer: async () => peer() }, REPEATS, log);

// --- same clusters: our de-duplication on the peer's assignment (the last repeat's; every repeat is the same)
const f32 = (file) => new Float32Array(readFileSync(file).buffer.slice(0));
const peerAssign = new Int32Array(readFileSync(join(peerDir, 'peer-assign.i32')).buffer.slice(0));
const peerSim = f32(join(peerDir, 'peer-sim.f32'));
const peerRemoved = new Set(new Int32Array(readFileSync(join(peerDir, 'peer-removed.i32')).buffer.slice(0)));
let t = performance.now();
const onPeerClusters = await dedupAll(peerAssign, peerSim);
const dedupOnPeerClusters = (performance.now() - t) / 1000;
const common = [...onPeerClusters].filter((r) => peerRemoved.has(r)).length;
const same = { oursOnPeerClusters: onPeerClusters.size, peer: peerRemoved.size, common, identical: common === peerRemoved.size && common === onPeerClusters.size };
// Where the two disagree, which one float64 arithmetic sides with: the row's best cosine to an earlier member
// of its cluster (the peer's keep order: similarity to the centroid ascending, ties by row) in float64.
const disagreements = [...onPeerClusters].filter((r) => !peerRemoved.has(r)).concat([...peerRemoved].filter((r) => !onPeerClusters.has(r)));
const differences = disagreements.slice(0, 100).map((row) => {
  const members = [];
  for (let i = 0; i < N; i++) if (peerAssign[i] === peerAssign[row]) members.push(i);
  members.sort((a, b) => peerSim[a] - peerSim[b] || a - b);
  const x = readRows([row], new Float32Array(D));
  let nx = 0;
  for (let t = 0; t < D; t++) nx += x[t] * x[t];
  let best = -Infinity;
  const y = new Float32Array(D);
  for (const other of members.slice(0, members.indexOf(row))) {
    readRows([other], y);
    let dot = 0;
    let ny = 0;
    for (let t = 0; t < D; t++) {
      dot += x[t] * y[t];
      ny += y[t] * y[t];
    }
    best = Math.max(best, dot / Math.sqrt(nx * ny));
  }
  const removedInFloat64 = best > 1 - EPS;
  return { row, removedByOurs: onPeerClusters.has(row), removedByPeer: peerRemoved.has(row), float64BestEarlierCosine: best, float64SidesWith: removedInFloat64 === onPeerClusters.has(row) ? 'ours' : 'peer' };
});
same.differences = differences;
same.float64SidesWithOurs = differences.filter((d) => d.float64SidesWith === 'ours').length;
same.float64SidesWithPeer = differences.filter((d) => d.float64SidesWith === 'peer').length;
log('same clusters:', { ...same, differences: differences.length }, `our dedup on them ${dedupOnPeerClusters.toFixed(2)} s vs peer ${peerLast.times.dedup.toFixed(2)} s`);
await kernel.close();
closeSync(fd);

const oursSeconds = runs.ours.map((r) => r.seconds);
const peerSeconds = runs.peer.map((r) => r.seconds);
writeResult('semdedup', {
  benchmark: 'semdedup',
  when: new Date().toISOString(),
  machine: machineInfo(),
  uptimeBefore,
  uptimeAfter: uptime(),
  threads: THREADS,
  repeats: REPEATS,
  peerOpenblasCoretype: flags['peer-coretype'] || null,
  order: 'contenders interleaved, order rotating per repeat (ours, peer / peer, ours / ...)',
  peerBlas: pythonBlasInfo(venvPython, env, ['numpy', 'faiss']),
  data: { n: N, dim: D, plantedPairs: planted.length, file: dataFile },
  params: { k: K, eps: EPS, iterations: NITER, seed: SEED, rule: 'semdedup', order: 'farthest-centroid', sample: Math.min(N, 256 * K) },
  secondsPerRun: { ours: oursSeconds, peer: peerSeconds },
  medianSeconds: { ours: median(oursSeconds), peer: median(peerSeconds) },
  pairedSpeedup: pairedRatios(oursSeconds, peerSeconds),
  cpuSecondsNote: 'ours.cpuSeconds / peer.cpuSeconds: user + system CPU time of all threads over the timed phases (last repeat), less sensitive to other load than wall time',
  target: 'ours >= 1.0x the peer (paired ratio peer seconds / ours seconds), same duplicates on the same clusters',
  ours: oursLast,
  peer: { ...peerLast, plantedFound: plantedFound(peerRemoved) },
  sameClusters: { ...same, oursDedupSeconds: dedupOnPeerClusters, peerDedupSeconds: peerLast.times.dedup, dedupRatio: peerLast.times.dedup / dedupOnPeerClusters },
});
