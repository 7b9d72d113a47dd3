#!/usr/bin/env node
// SemDeDup benchmark: @select/curation-filters (our spherical k-means + per-cluster SemDeDup on MLAS GEMM
// graphs) against the Python SemDeDup (faiss k-means + numpy per-cluster similarities, semdedup_peer.py)
// on the same embeddings, same k, ε, iterations and keep order (farthest from the centroid first, the code
// rule `triu(S, 1).max(0) > 1 - ε`), in the same run, one after the other.
//
//   node tools/bench/curation/semdedup.mjs [--n 1000000] [--k 1000] [--eps 0.05] [--niter 20] [--out FILE]
//
// "Same duplicates": our de-duplication is also run on the peer's clusters (its assignment and centroid
// similarities), and its removed rows are compared with the peer's — k-means itself is seeded differently
// on the two sides, so only the peer's clusters make an exact comparison possible.
// Needs: `npx nx run @select/curation-filters:build` and tools/bench/.venv with faiss-cpu and numpy
// (python3 -m venv tools/bench/.venv && tools/bench/.venv/bin/pip install faiss-cpu numpy).
// Data: tools/bench/.cache/curation (make_embeddings.py). Results: tools/bench/results/semdedup.json.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { OnnxSimilarityKernel, dedupCluster, sampleIndices, trainKMeans } from '@select/curation-filters';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..', '..');
const cache = join(repo, 'tools', 'bench', '.cache', 'curation');
const python = join(repo, 'tools', 'bench', '.venv', 'bin', 'python');
const { values: flags } = parseArgs({
  options: {
    n: { type: 'string', default: '1000000' },
    k: { type: 'string', default: '1000' },
    eps: { type: 'string', default: '0.05' },
    niter: { type: 'string', default: '20' },
    dim: { type: 'string', default: '512' },
    seed: { type: 'string', default: '0' },
    out: { type: 'string', default: join(repo, 'tools', 'bench', 'results', 'semdedup.json') },
  },
});
const N = Number(flags.n);
const K = Number(flags.k);
const EPS = Number(flags.eps);
const NITER = Number(flags.niter);
const D = Number(flags.dim);
const SEED = Number(flags.seed);
const log = (...args) => console.log(`[${new Date().toISOString().slice(11, 19)}]`, ...args);
const loadStart = loadavg();

mkdirSync(cache, { recursive: true });
const dataFile = join(cache, `semdedup-${N}.f32`);
if (!existsSync(dataFile)) {
  log(`writing ${N} x ${D} embeddings with planted near-duplicates`);
  execFileSync(python, [join(here, 'make_embeddings.py'), 'semdedup', '--n', String(N), '--dim', String(D), '--out', cache], { stdio: 'inherit' });
}
const planted = JSON.parse(readFileSync(join(cache, `semdedup-${N}.json`), 'utf8')).planted;

// --- peer
log('peer: faiss k-means + numpy SemDeDup');
const peerDir = join(cache, `peer-${N}-${K}`);
const peerOut = execFileSync(
  python,
  [join(here, 'semdedup_peer.py'), dataFile, '--n', String(N), '--dim', String(D), '--k', String(K), '--eps', String(EPS), '--niter', String(NITER), '--seed', String(SEED), '--out', peerDir],
  { encoding: 'utf8', maxBuffer: 1 << 24 },
);
const peer = JSON.parse(peerOut.trim().split('\n').at(-1));
const peerTotal = peer.times.kmeans + peer.times.assign + peer.times.dedup;
log('peer', peer.times, `total ${peerTotal.toFixed(2)} s, removed ${peer.removed}`);

// --- ours
const buf = readFileSync(dataFile);
const data = new Float32Array(buf.buffer, buf.byteOffset, N * D);
const kernel = await OnnxSimilarityKernel.open();
const times = {};
let t = performance.now();
const sampleRows = sampleIndices(N, Math.min(N, 256 * K), SEED);
const sample = new Float32Array(sampleRows.length * D);
sampleRows.forEach((r, i) => sample.set(data.subarray(r * D, (r + 1) * D), i * D));
const training = await trainKMeans({ data: sample, rows: sampleRows.length, dim: D }, { k: K, iterations: NITER, seed: SEED }, kernel);
times.kmeans = (performance.now() - t) / 1000;
t = performance.now();
const assign = new Int32Array(N);
const sim = new Float32Array(N);
for (let start = 0; start < N; start += 65536) {
  const end = Math.min(N, start + 65536);
  const part = await training.model.assign({ data: data.subarray(start * D, end * D), rows: end - start, dim: D }, kernel);
  assign.set(part.cluster, start);
  sim.set(part.similarity, start);
}
times.assign = (performance.now() - t) / 1000;
t = performance.now();
const oursRemoved = await dedupAll(assign, sim);
times.dedup = (performance.now() - t) / 1000;
const oursTotal = times.kmeans + times.assign + times.dedup;
log('ours', times, `total ${oursTotal.toFixed(2)} s, removed ${oursRemoved.size}, k-means iterations ${training.iterations}`);

// --- same clusters: our de-duplication on the peer's assignment
const peerAssign = new Int32Array(readFileSync(join(peerDir, 'peer-assign.i32')).buffer.slice(0));
const peerSim = new Float32Array(readFileSync(join(peerDir, 'peer-sim.f32')).buffer.slice(0));
const peerRemoved = new Set(new Int32Array(readFileSync(join(peerDir, 'peer-removed.i32')).buffer.slice(0)));
t = performance.now();
const onPeerClusters = await dedupAll(peerAssign, peerSim);
const dedupOnPeerClusters = (performance.now() - t) / 1000;
const both = [...onPeerClusters].filter((r) => peerRemoved.has(r)).length;
const same = { oursOnPeerClusters: onPeerClusters.size, peer: peerRemoved.size, common: both, identical: both === peerRemoved.size && both === onPeerClusters.size };
log('same clusters:', same, `our dedup on them ${dedupOnPeerClusters.toFixed(2)} s vs peer ${peer.times.dedup.toFixed(2)} s`);
await kernel.close();

const plantedFound = (removed) => planted.filter(([s, d]) => removed.has(s) || removed.has(d)).length;
const result = {
  benchmark: 'semdedup',
  when: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, loadavgStart: loadStart, loadavgEnd: loadavg() },
  data: { n: N, dim: D, plantedPairs: planted.length },
  params: { k: K, eps: EPS, iterations: NITER, seed: SEED, rule: 'semdedup', order: 'farthest-centroid', sample: Math.min(N, 256 * K) },
  peer: { ...peer, total: peerTotal, plantedFound: plantedFound(new Set(peerRemoved)) },
  ours: { times, total: oursTotal, removed: oursRemoved.size, kmeansIterations: training.iterations, plantedFound: plantedFound(oursRemoved) },
  sameClusters: { ...same, oursDedupSeconds: dedupOnPeerClusters, peerDedupSeconds: peer.times.dedup, dedupRatio: peer.times.dedup / dedupOnPeerClusters },
  ratio: peerTotal / oursTotal,
};
mkdirSync(dirname(flags.out), { recursive: true });
writeFileSync(flags.out, `${JSON.stringify(result, null, 2)}\n`);
log(`ratio (peer time / our time): ${result.ratio.toFixed(3)}; same duplicates on the peer's clusters: ${same.identical}; results in ${flags.out}`);

/** SemDeDup's code rule per cluster, farthest from the centroid first; returns removed row numbers. */
async function dedupAll(clusterOf, simOf) {
  const counts = new Int32Array(K + 1);
  for (const c of clusterOf) counts[c + 1]++;
  for (let c = 0; c < K; c++) counts[c + 1] += counts[c];
  const rows = new Int32Array(N);
  const fill = counts.slice();
  for (let i = 0; i < N; i++) rows[fill[clusterOf[i]]++] = i;
  const removed = new Set();
  for (let c = 0; c < K; c++) {
    const members = rows.subarray(counts[c], counts[c + 1]);
    if (members.length < 2) continue;
    const vectors = new Float32Array(members.length * D);
    const centroidSimilarity = new Float32Array(members.length);
    const ids = [];
    members.forEach((r, i) => {
      vectors.set(data.subarray(r * D, (r + 1) * D), i * D);
      centroidSimilarity[i] = simOf[r];
      ids.push(String(r).padStart(9, '0'));
    });
    const result = await dedupCluster({ ids, vectors: { data: vectors, rows: members.length, dim: D }, centroidSimilarity }, { eps: EPS, rule: 'semdedup', order: 'farthest-centroid' }, kernel);
    for (const r of result.removed) removed.add(Number(r.id));
  }
  return removed;
}
