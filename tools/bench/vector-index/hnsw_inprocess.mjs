#!/usr/bin/env node
// @select/vector-index's HNSW search in-process (no gRPC) against FAISS IndexHNSWFlat in-process, on the
// retrieval benchmark's clustered data: QPS and recall@10 per ef, with the index built at one or more
// connectivities (`IndexSpec.connectivity`, the HNSW M; the index maps it to usearch's link counts, see
// graphConnectivity), and FAISS's distance computations per query. The numbers behind the in-process tables of
// packages/vector-index/README.md.
//
//   node tools/bench/vector-index/hnsw_inprocess.mjs [--n 100000] [--queries 2000] [--connectivity 16,32]
//        [--ef 16,24,32,40,48] [--passes 3] [--threads 2] [--base FILE] [--name vector-index-hnsw]
//
// Data: tools/bench/.cache/retrieval/base-<n>.f32 when it exists, else the first n rows of --base (default
// base-1000000.f32; the README's 300k table is its first 300,000 rows), and queries-<queries>.f32, all made
// by tools/bench/retrieval/make_data.py (run.mjs makes them). Ground truth: FAISS IndexFlatIP on the same rows.
// Both sides: inner product, k 10, M 16 (FAISS) / the given connectivities (ours), efConstruction 128, all
// queries in one call on `threads` threads; every ef is measured `passes` times with the contenders' order
// rotating (bench-kit interleave), best and median kept. The package's dist must be built (npm run build).
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ROOT, interleave, machineInfo, median, peerEnv, resultName, uptime, wholeListOption, wholeOption, writeResult } from '../lib/bench-kit.mjs';

const { values: flags } = parseArgs({
  options: {
    n: { type: 'string', default: '100000' },
    queries: { type: 'string', default: '2000' },
    connectivity: { type: 'string', default: '16' },
    ef: { type: 'string', default: '16,24,32,40,48' },
    passes: { type: 'string', default: '3' },
    threads: { type: 'string', default: String(availableParallelism()) },
    base: { type: 'string' },
    name: { type: 'string', default: 'vector-index-hnsw' },
  },
});
const N = wholeOption('n', flags.n);
const Q = wholeOption('queries', flags.queries);
const D = 512;
const K = 10;
const M = 16;
const EFC = 128;
const threads = wholeOption('threads', flags.threads);
const passes = wholeOption('passes', flags.passes);
const efs = wholeListOption('ef', flags.ef);
const connectivities = wholeListOption('connectivity', flags.connectivity);
resultName(flags.name);
const cache = join(ROOT, 'tools/bench/.cache/retrieval');
const own = join(ROOT, 'tools/bench/.cache/vector-index');
mkdirSync(own, { recursive: true });

const baseFile = flags.base ?? (existsSync(join(cache, `base-${N}.f32`)) ? join(cache, `base-${N}.f32`) : join(cache, 'base-1000000.f32'));
const queriesFile = join(cache, `queries-${Q}.f32`);
for (const file of [baseFile, queriesFile]) {
  if (!existsSync(file)) throw new Error(`${file} is missing: make it with tools/bench/.venv/bin/python tools/bench/retrieval/make_data.py --n <n> --queries ${Q} --out ${cache}`);
}
/** The first `count` floats of a file (only those are read: base-1000000.f32 is 2 GB). */
const readF32 = (file, count) => {
  const out = new Float32Array(count);
  const fd = openSync(file, 'r');
  try {
    const bytes = new Uint8Array(out.buffer);
    for (let done = 0; done < bytes.length; ) {
      const got = readSync(fd, bytes, done, bytes.length - done, done);
      if (got === 0) throw new Error(`${file} holds fewer than ${count / D} rows`);
      done += got;
    }
  } finally {
    closeSync(fd);
  }
  return out;
};
const base = readF32(baseFile, N * D);
const queries = readF32(queriesFile, Q * D);
const uptimeBefore = uptime();

// FAISS first: it also writes the ground truth both sides are scored against.
const gtFile = join(own, `gt-${N}-${Q}.i32`);
const python = join(ROOT, 'tools/bench/.venv/bin/python');
const peer = spawn(python, [join(ROOT, 'tools/bench/vector-index/faiss_hnsw_peer.py'), baseFile, N, queriesFile, Q, D, M, EFC, threads, gtFile].map(String), {
  env: peerEnv(threads),
  stdio: ['pipe', 'pipe', 'inherit'],
});
const peerLines = createInterface({ input: peer.stdout })[Symbol.asyncIterator]();
const peerAnswer = async (command) => {
  if (command) peer.stdin.write(`${command}\n`);
  const { value, done } = await peerLines.next();
  if (done) throw new Error(`the FAISS peer exited (${peer.exitCode})`);
  const answer = JSON.parse(value);
  if (answer.error) throw new Error(`FAISS peer: ${answer.error}`);
  return answer;
};
const faissBuild = await peerAnswer();
console.error(`[bench] FAISS IndexHNSWFlat M ${M}: built in ${faissBuild.build_seconds.toFixed(1)} s`);
const gtBytes = readFileSync(gtFile);
const truth = new Int32Array(gtBytes.buffer, gtBytes.byteOffset, Q * K);

const { VectorIndex, addSpecDefaults } = await import('@select/vector-index');
const ours = {};
for (const connectivity of connectivities) {
  const index = new VectorIndex(addSpecDefaults({ dimension: D, metric: 'inner-product', connectivity, efConstruction: EFC }), { threads });
  const started = performance.now();
  for (let s = 0; s < N; s += 10_000) {
    const items = [];
    for (let i = s; i < Math.min(N, s + 10_000); i++) items.push({ id: String(i), vector: base.subarray(i * D, (i + 1) * D) });
    await index.apply(index.prepareAdd(items).batch);
  }
  ours[connectivity] = { index, buildSeconds: (performance.now() - started) / 1000 };
  console.error(`[bench] @select/vector-index connectivity ${connectivity}: built in ${ours[connectivity].buildSeconds.toFixed(1)} s (${index.simd().graph})`);
}

function recall(flat) {
  let hits = 0;
  for (let q = 0; q < Q; q++) {
    const want = new Set(truth.subarray(q * K, (q + 1) * K));
    for (let j = flat.offsets[q]; j < flat.offsets[q + 1]; j++) if (want.has(Number(flat.ids[j]))) hits++;
  }
  return hits / (Q * K);
}

const sweep = [];
for (const ef of efs) {
  const contenders = {};
  for (const connectivity of connectivities) {
    contenders[`ours-c${connectivity}`] = async () => {
      const cpu = process.cpuUsage();
      const started = performance.now();
      const flat = await ours[connectivity].index.searchFlat(queries, { k: K, efSearch: ef });
      const seconds = (performance.now() - started) / 1000;
      const used = process.cpuUsage(cpu);
      return { seconds, qps: Q / seconds, recall: recall(flat), cpuMicrosPerQuery: (used.user + used.system) / Q };
    };
  }
  contenders.faiss = () => peerAnswer(`search ${ef}`);
  const runs = await interleave(contenders, passes, (line) => console.error(`${line} (ef ${ef})`));
  const row = { ef };
  for (const [name, list] of Object.entries(runs)) {
    row[name] = {
      bestQps: Math.max(...list.map((r) => r.qps)),
      medianQps: median(list.map((r) => r.qps)),
      recall: list[0].recall,
      cpuMicrosPerQuery: median(list.map((r) => r.cpuMicrosPerQuery)),
      ...(list[0].distancesPerQuery === undefined ? {} : { distancesPerQuery: list[0].distancesPerQuery }),
      passes: list.map((r) => Number(r.qps.toFixed(1))),
    };
  }
  sweep.push(row);
  console.error(
    `ef ${ef}: ${Object.entries(row)
      .filter(([k]) => k !== 'ef')
      .map(([k, v]) => `${k} ${v.bestQps.toFixed(0)} QPS recall ${v.recall.toFixed(4)}${v.distancesPerQuery ? ` ${v.distancesPerQuery.toFixed(0)} distances/query` : ''}`)
      .join('; ')}`,
  );
}
peer.stdin.end();

writeResult(flags.name, {
  benchmark: 'vector-index-hnsw',
  date: new Date().toISOString(),
  command: `node tools/bench/vector-index/hnsw_inprocess.mjs ${process.argv.slice(2).join(' ')}`.trim(),
  machine: machineInfo(),
  uptime: { before: uptimeBefore, after: uptime() },
  data: { base: baseFile.replace(ROOT, ''), rows: N, queries: Q, dimension: D, k: K, metric: 'inner-product' },
  settings: { threads, passes, efConstruction: EFC, faissM: M, connectivities, oneCallForAllQueries: true, ours: 'VectorIndex.searchFlat (no log, no gRPC)' },
  notes: [
    'QPS: all queries in one call; bestQps is the best of the passes, medianQps their median; passes interleaved with the order rotating',
    'distancesPerQuery: FAISS only (faiss.cvar.hnsw_stats.ndis / nq); the addon does not count its distance computations',
  ],
  build: { faiss: faissBuild, ours: Object.fromEntries(Object.entries(ours).map(([c, o]) => [`c${c}`, { buildSeconds: o.buildSeconds }])) },
  sweep,
});
