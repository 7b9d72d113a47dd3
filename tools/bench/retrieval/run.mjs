#!/usr/bin/env node
// Retrieval benchmark: the retrieval service, called over gRPC as a user would, against FAISS
// (IndexHNSWFlat with the same M / efConstruction / efSearch, and IndexFlatIP) on the same clustered
// synthetic vectors in the same run.
//
//   node tools/bench/retrieval/run.mjs [--n 1000000] [--queries 10000] [--dim 512] [--k 10]
//        [--m 16] [--ef-construction 128] [--ef 16,24,32,36,40,44,48,56,64,96,128] [--batch 1000] [--rounds 2]
//        [--runs 1] [--exact-only] [--exact-rounds 1] [--name retrieval] [--peer-coretype auto|unset|NAME]
//
// The machine is shared (2 cores, other work running), so searches are interleaved — FAISS at one
// setting, then the service at the same setting — and each ANN QPS is the best of --rounds passes.
// --runs N repeats the whole run (fresh FAISS process, fresh service and index) N times in a row and
// records every run with the median and spread (min, max) of each figure. --exact-only builds no
// FAISS HNSW and sweeps no ef: data, the service's index (AddVectors still builds its graph) and the
// exact searches only.
//
// FAISS runs with its BLAS at full speed: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (set on some of these
// machines, they slow a current OpenBLAS) are removed from its environment alone (bench-kit peerEnv), and
// since faiss-cpu 1.15.1's bundled OpenBLAS 0.3.15 falls back to generic kernels on a CPU it does not know
// (Zen 5), each core type the CPU runs is then measured and the fastest used (peer-blas.mjs;
// --peer-coretype unset or NAME overrides). The BLAS the peer loaded, with the kernel it ran, is
// recorded (threadpoolctl, from inside the peer).
//
// Needs: `npm run build` (the service's dist and the native addon) and tools/bench/.venv with
// faiss-cpu, numpy and threadpoolctl (python3 -m venv tools/bench/.venv && tools/bench/.venv/bin/pip install
// faiss-cpu numpy threadpoolctl). Data and ground truth are cached under tools/bench/.cache/retrieval.
// Results: tools/bench/results/<--name>.json (default retrieval.json).
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, createWriteStream, mkdirSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { RetrievalClient } from '@select/retrieval-service';
import { BLAS_HANDICAPS, machineInfo, median, pythonBlasInfo, refuse, resultName, uptime, wholeListOption, wholeOption, writeResult } from '../lib/bench-kit.mjs';
import { fastestPeerEnv } from './peer-blas.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..', '..');
const cache = join(repo, 'tools', 'bench', '.cache', 'retrieval');
const python = join(repo, 'tools', 'bench', '.venv', 'bin', 'python');

const { values: flags } = parseArgs({
  options: {
    n: { type: 'string', default: '1000000' },
    queries: { type: 'string', default: '10000' },
    dim: { type: 'string', default: '512' },
    k: { type: 'string', default: '10' },
    m: { type: 'string', default: '16' },
    'ef-construction': { type: 'string', default: '128' },
    ef: { type: 'string', default: '16,24,32,36,40,44,48,56,64,96,128' },
    batch: { type: 'string', default: '1000' },
    target: { type: 'string', default: '0.95' },
    rounds: { type: 'string', default: '2' },
    runs: { type: 'string', default: '1' },
    'exact-only': { type: 'boolean', default: false },
    'exact-rounds': { type: 'string', default: '1' },
    name: { type: 'string', default: 'retrieval' },
    'peer-coretype': { type: 'string', default: 'auto' },
  },
});
const N = wholeOption('n', flags.n);
const Q = wholeOption('queries', flags.queries);
const D = wholeOption('dim', flags.dim);
const K = wholeOption('k', flags.k);
const M = wholeOption('m', flags.m);
const EFC = wholeOption('ef-construction', flags['ef-construction']);
const EFS = flags['exact-only'] ? [] : wholeListOption('ef', flags.ef);
const BATCH = wholeOption('batch', flags.batch);
const TARGET = Number(flags.target);
const ROUNDS = wholeOption('rounds', flags.rounds);
const RUNS = wholeOption('runs', flags.runs);
const EXACT_ONLY = flags['exact-only'];
const EXACT_ROUNDS = wholeOption('exact-rounds', flags['exact-rounds']);
const THREADS = availableParallelism();
if (!(TARGET > 0 && TARGET <= 1)) refuse(`--target must be a recall above 0 and at most 1, got ${JSON.stringify(flags.target)}`);
resultName(flags.name);

function log(...args) {
  console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...args);
}

function rss(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** Bytes of a process's anonymous memory on transparent huge pages (the index's vectors, when they got them). */
function hugePages(pid) {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  return Number(/^AnonHugePages:\s+(\d+)/m.exec(rollup)?.[1] ?? 0) * 1024;
}

/** CPU seconds (user + system) a process has used so far, from /proc (clock ticks of 1/100 s). */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** This process's CPU seconds (the bench client). */
function ownCpuSeconds() {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** Reads rows [start, start + count) of a row-major float32 file. */
function readRows(fd, start, count) {
  const out = new Float32Array(count * D);
  const bytes = new Uint8Array(out.buffer);
  let done = 0;
  while (done < bytes.length) {
    const n = readSync(fd, bytes, done, bytes.length - done, start * D * 4 + done);
    if (n === 0) throw new Error('data file ended early');
    done += n;
  }
  return out;
}

async function startService(dataDir) {
  // SERVICE_NODE_ARGS: extra node flags for the service only, for diagnosis (e.g. "--trace-gc --cpu-prof").
  const nodeArgs = (process.env.SERVICE_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, join(repo, 'packages', 'retrieval-service', 'dist', 'main.js')], {
    env: { ...process.env, RETRIEVAL_DATA_DIR: dataDir, RETRIEVAL_PORT: '0', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const address = await new Promise((resolveAddress, reject) => {
    let out = '';
    const onData = (chunk) => {
      out += chunk.toString();
      const m = /"address":"([^"]+)"[^\n]*retrieval service listening/.exec(out);
      if (m) {
        child.stdout.off('data', onData);
        child.stdout.pipe(createWriteStream(join(cache, 'service.log')));
        resolveAddress(m[1]);
      }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => reject(new Error(`service exited with ${code}: ${out}`)));
  });
  return { child, address };
}

/** Runs `tasks` with at most `width` in flight; resolves to their results in order. */
async function pool(tasks, width) {
  const results = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < tasks.length) {
        const i = next++;
        results[i] = await tasks[i]();
      }
    }),
  );
  return results;
}

function recallAt(results, truth) {
  let hits = 0;
  results.forEach((ids, q) => {
    const want = new Set(Array.from(truth.subarray(q * K, (q + 1) * K), String));
    hits += ids.filter((id) => want.has(id)).length;
  });
  return hits / (results.length * K);
}

async function searchAll(client, queries, options, servicePid) {
  const tasks = [];
  for (let start = 0; start < Q; start += BATCH) {
    const slice = [];
    for (let q = start; q < Math.min(Q, start + BATCH); q++) slice.push(queries.subarray(q * D, (q + 1) * D));
    tasks.push(() => client.search({ index: 'bench', queries: slice, k: K, compact: true, ...options }, { deadlineMs: 3_600_000 }));
  }
  const serviceCpu = cpuSeconds(servicePid);
  const clientCpu = ownCpuSeconds();
  const started = performance.now();
  const responses = await pool(tasks, 2);
  const seconds = (performance.now() - started) / 1000;
  return {
    seconds,
    qps: Q / seconds,
    // CPU time per query of each process: the client runs on the same 2 cores as the service.
    service_cpu_us_per_query: ((cpuSeconds(servicePid) - serviceCpu) / Q) * 1e6,
    client_cpu_us_per_query: ((ownCpuSeconds() - clientCpu) / Q) * 1e6,
    results: responses.flatMap((r) => r.results.map((x) => x.ids)),
  };
}

/** QPS of the cheapest setting that reaches the target recall (the first ef, sweeping upwards). */
function atTarget(sweep) {
  return sweep.find((s) => s.recall >= TARGET);
}

/** QPS at exactly the target recall, interpolated between the settings on either side of it. */
function interpolatedAtTarget(sweep) {
  const i = sweep.findIndex((s) => s.recall >= TARGET);
  if (i < 0) return null;
  if (i === 0) return sweep[0].qps;
  const [a, b] = [sweep[i - 1], sweep[i]];
  return a.qps + ((TARGET - a.recall) / (b.recall - a.recall)) * (b.qps - a.qps);
}

/** The 1, 5 and 15 minute load averages (the machine is shared: this says how busy it was). */
function load() {
  return loadavg().map((x) => Math.round(x * 100) / 100);
}


const gflops = (seconds) => (2 * Q * N * D) / seconds / 1e9;

/** One full run: a fresh FAISS peer and a fresh service with an empty data directory. */
async function oneRun(run, paths, peerEnvironment) {
  const { basePath, queryPath, gtPath } = paths;
  const started = new Date().toISOString();
  const uptimeAtStart = uptime();
  const loadAtStart = load();
  log(`run ${run + 1}/${RUNS}: ${uptimeAtStart}`);

  log(EXACT_ONLY ? 'FAISS: IndexFlatIP (ground truth)' : 'FAISS: IndexHNSWFlat and IndexFlatIP (ground truth)');
  const peerArgs = [join(here, 'faiss_peer.py'), '--base', basePath, '--queries', queryPath, '--dim', String(D), '--k', String(K)];
  peerArgs.push('--m', String(M), '--ef-construction', String(EFC), '--gt', gtPath, '--threads', String(THREADS));
  if (EXACT_ONLY) peerArgs.push('--exact-only');
  // FAISS alone runs with its BLAS at full speed (peer-blas.mjs; the service does not use a BLAS).
  const peer = spawn(python, peerArgs, { stdio: ['pipe', 'pipe', 'inherit'], env: peerEnvironment });
  const peerLines = createInterface({ input: peer.stdout })[Symbol.asyncIterator]();
  const ask = async (command) => {
    if (command) peer.stdin.write(`${command}\n`);
    const { value, done } = await peerLines.next();
    if (done) throw new Error('the FAISS peer exited');
    return JSON.parse(value);
  };
  const faiss = await ask();
  faiss.flat.passes = [];
  if (faiss.hnsw) faiss.hnsw.sweep = [];
  const kernels = (faiss.blas ?? []).map((b) => `${b.internal_api} ${b.version} ${b.architecture}`).join(', ') || 'none reported';
  log(`FAISS BLAS: ${kernels}; ground-truth flat search ${faiss.flat.ground_truth_qps.toFixed(0)} QPS`);
  if (faiss.hnsw) log(`FAISS HNSW build ${faiss.hnsw.build_seconds.toFixed(1)} s, ${(faiss.hnsw.memory_bytes / 2 ** 30).toFixed(2)} GiB`);
  const truth = new Int32Array(readFileSync(gtPath).buffer.slice(0));

  const dataDir = join(cache, 'service-data');
  rmSync(dataDir, { recursive: true, force: true });
  const { child, address } = await startService(dataDir);
  const client = new RetrievalClient(address, { defaultDeadlineMs: 3_600_000 });
  const service = { exact: { passes: [] }, sweep: [] };
  try {
    await new Promise((r) => setTimeout(r, 500));
    const idle = rss(child.pid);
    await client.createIndex({ name: 'bench', dimension: D, metric: 'METRIC_INNER_PRODUCT', ann: { connectivity: M, efConstruction: EFC } });

    log('service: AddVectors streams');
    const fd = openSync(basePath, 'r');
    const buildStarted = performance.now();
    const STREAM = 50_000;
    for (let start = 0; start < N; start += STREAM) {
      const count = Math.min(STREAM, N - start);
      const response = await client.addVectors(
        'bench',
        (function* () {
          for (let chunk = 0; chunk < count; chunk += 4096) {
            const rows = readRows(fd, start + chunk, Math.min(4096, count - chunk));
            for (let i = 0; i < rows.length / D; i++) yield { id: String(start + chunk + i), vector: rows.subarray(i * D, (i + 1) * D) };
          }
        })(),
        { deadlineMs: 3_600_000 },
      );
      if (response.errors.length > 0) throw new Error(`rejected vectors: ${JSON.stringify(response.errors.slice(0, 3))}`);
      if ((start / STREAM) % 4 === 3) log(`  ${start + count} added`);
    }
    closeSync(fd);
    service.build_seconds = (performance.now() - buildStarted) / 1000;
    await new Promise((r) => setTimeout(r, 1000));
    const built = rss(child.pid);
    const stats = await client.getStats('bench');
    service.memory_bytes = built.rss - idle.rss;
    service.peak_rss_bytes = built.peak;
    service.index_bytes_reported = Number(stats.memoryBytes);
    service.huge_page_bytes = hugePages(child.pid);
    log(`service build ${service.build_seconds.toFixed(1)} s, memory ${(service.memory_bytes / 2 ** 30).toFixed(2)} GiB (${(service.huge_page_bytes / 2 ** 30).toFixed(2)} GiB on huge pages)`);

    const queries = new Float32Array(readFileSync(queryPath).buffer.slice(0));
    for (let round = 0; round < EXACT_ROUNDS; round++) {
      log(`exact search${EXACT_ROUNDS > 1 ? ` (round ${round + 1}/${EXACT_ROUNDS})` : ''}: service, then FAISS IndexFlatIP`);
      const exact = await searchAll(client, queries, { exact: true }, child.pid);
      const ours = {
        qps: exact.qps,
        search_seconds: exact.seconds,
        gflops: gflops(exact.seconds),
        // Per CPU-second of the service process: what a core does, whatever share of the cores others took.
        gflops_per_cpu_second: (2 * N * D) / (exact.service_cpu_us_per_query * 1e-6) / 1e9,
        recall: recallAt(exact.results, truth),
        service_cpu_us_per_query: exact.service_cpu_us_per_query,
        client_cpu_us_per_query: exact.client_cpu_us_per_query,
      };
      const theirs = await ask('flat');
      theirs.gflops = gflops(theirs.search_seconds);
      theirs.gflops_per_cpu_second = (2 * N * D) / (theirs.cpu_us_per_query * 1e-6) / 1e9;
      service.exact.passes.push(ours);
      faiss.flat.passes.push(theirs);
      log(`  service ${ours.qps.toFixed(1)} QPS (${ours.gflops.toFixed(0)} GFLOP/s, ${ours.gflops_per_cpu_second.toFixed(0)} per CPU-second, recall vs FAISS flat ${ours.recall.toFixed(4)}), FAISS ${theirs.qps.toFixed(1)} QPS (${theirs.gflops.toFixed(0)} GFLOP/s, ${theirs.gflops_per_cpu_second.toFixed(0)} per CPU-second)`);
    }
    // Best pass of each side (the machine is shared; a slow pass is someone else's load).
    const best = (passes) => passes.reduce((a, b) => (b.qps > a.qps ? b : a));
    Object.assign(service.exact, best(service.exact.passes));
    Object.assign(faiss.flat, best(faiss.flat.passes));

    for (let round = 0; round < ROUNDS && !EXACT_ONLY; round++) {
      for (const [i, ef] of EFS.entries()) {
        const theirs = await ask(`hnsw ${ef}`);
        const run = await searchAll(client, queries, { efSearch: ef }, child.pid);
        const ours = {
          ef,
          recall: recallAt(run.results, truth),
          qps: run.qps,
          search_seconds: run.seconds,
          service_cpu_us_per_query: run.service_cpu_us_per_query,
          client_cpu_us_per_query: run.client_cpu_us_per_query,
        };
        if (round === 0) {
          service.sweep.push(ours);
          faiss.hnsw.sweep.push(theirs);
        } else {
          if (ours.qps > service.sweep[i].qps) service.sweep[i] = ours;
          if (theirs.qps > faiss.hnsw.sweep[i].qps) faiss.hnsw.sweep[i] = theirs;
        }
        const cpu = `cpu/query service ${ours.service_cpu_us_per_query.toFixed(0)} us, client ${ours.client_cpu_us_per_query.toFixed(0)} us`;
        log(`  round ${round + 1} ef ${ef}: service recall ${ours.recall.toFixed(4)} ${ours.qps.toFixed(0)} QPS (${cpu}) | FAISS recall ${theirs.recall.toFixed(4)} ${theirs.qps.toFixed(0)} QPS (cpu/query ${theirs.cpu_us_per_query.toFixed(0)} us)`);
      }
    }
  } finally {
    peer.stdin.end();
    client.close();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await new Promise((r) => (peer.exitCode === null ? peer.once('exit', r) : r()));
    rmSync(dataDir, { recursive: true, force: true });
  }

  const ours = EXACT_ONLY ? undefined : atTarget(service.sweep);
  const theirs = EXACT_ONLY ? undefined : atTarget(faiss.hnsw.sweep);
  const oursInterpolated = EXACT_ONLY ? null : interpolatedAtTarget(service.sweep);
  const theirsInterpolated = EXACT_ONLY ? null : interpolatedAtTarget(faiss.hnsw.sweep);
  return {
    started,
    ended: new Date().toISOString(),
    uptime_at_start: uptimeAtStart,
    uptime_at_end: uptime(),
    load_at_start: loadAtStart,
    load_at_end: load(),
    service,
    faiss,
    at_target: EXACT_ONLY
      ? null
      : { service: ours ?? null, faiss: theirs ?? null, service_interpolated_qps: oursInterpolated, faiss_interpolated_qps: theirsInterpolated },
    ratios: {
      ann_qps_at_target_recall: ours && theirs ? ours.qps / theirs.qps : null,
      ann_qps_interpolated_at_target_recall: oursInterpolated && theirsInterpolated ? oursInterpolated / theirsInterpolated : null,
      exact_qps: service.exact.qps / faiss.flat.qps,
      memory: EXACT_ONLY ? null : service.memory_bytes / faiss.hnsw.memory_bytes,
      build_time: EXACT_ONLY ? null : service.build_seconds / faiss.hnsw.build_seconds,
    },
  };
}

/** Median, min and max of one figure over the runs (null where a run has none). */
function spread(runs, pick) {
  const xs = runs.map(pick).filter((x) => typeof x === 'number' && Number.isFinite(x));
  if (xs.length === 0) return null;
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), values: runs.map(pick) };
}

async function main() {
  const uptimeAtStart = uptime();
  mkdirSync(cache, { recursive: true });
  log(`data: ${N} x ${D}, ${Q} queries (clustered synthetic); ${RUNS} run(s)${EXACT_ONLY ? ', exact search only' : ''}; ${uptimeAtStart}`);
  execFileSync(python, [join(here, 'make_data.py'), '--n', String(N), '--queries', String(Q), '--dim', String(D), '--out', cache], {
    stdio: ['ignore', 2, 2], // stdout carries only the result
  });
  const paths = {
    basePath: join(cache, `base-${N}.f32`),
    queryPath: join(cache, `queries-${Q}.f32`),
    gtPath: join(cache, `gt-${N}-${Q}-${K}.i32`),
  };
  const peerChoice = fastestPeerEnv(python, THREADS, flags['peer-coretype'], log);
  const peerBlas = pythonBlasInfo(python, peerChoice.env, ['faiss', 'numpy']);

  const runs = [];
  for (let run = 0; run < RUNS; run++) runs.push(await oneRun(run, paths, peerChoice.env));

  const summary = {
    exact_qps_ratio: spread(runs, (r) => r.ratios.exact_qps),
    service_exact_qps: spread(runs, (r) => r.service.exact.qps),
    faiss_flat_qps: spread(runs, (r) => r.faiss.flat.qps),
    service_exact_gflops: spread(runs, (r) => r.service.exact.gflops),
    faiss_flat_gflops: spread(runs, (r) => r.faiss.flat.gflops),
    service_exact_gflops_per_cpu_second: spread(runs, (r) => r.service.exact.gflops_per_cpu_second),
    faiss_flat_gflops_per_cpu_second: spread(runs, (r) => r.faiss.flat.gflops_per_cpu_second),
    ...(EXACT_ONLY
      ? {}
      : {
          ann_qps_ratio_at_target_recall: spread(runs, (r) => r.ratios.ann_qps_at_target_recall),
          ann_qps_ratio_interpolated: spread(runs, (r) => r.ratios.ann_qps_interpolated_at_target_recall),
          service_ann_qps_at_target: spread(runs, (r) => r.at_target.service?.qps),
          faiss_ann_qps_at_target: spread(runs, (r) => r.at_target.faiss?.qps),
          service_cpu_us_per_query_at_target: spread(runs, (r) => r.at_target.service?.service_cpu_us_per_query),
          memory_ratio: spread(runs, (r) => r.ratios.memory),
          build_time_ratio: spread(runs, (r) => r.ratios.build_time),
        }),
  };
  const result = {
    when: new Date().toISOString(),
    machine: {
      ...machineInfo(),
      usearch: JSON.parse(readFileSync(join(repo, 'node_modules', 'usearch', 'package.json'), 'utf8')).version,
      uptime_at_start: uptimeAtStart,
      uptime_at_end: uptime(),
    },
    params: {
      n: N,
      queries: Q,
      dim: D,
      k: K,
      m: M,
      ef_construction: EFC,
      ef: EFS,
      batch: BATCH,
      rounds: ROUNDS,
      exact_rounds: EXACT_ROUNDS,
      runs: RUNS,
      exact_only: EXACT_ONLY,
      target_recall: TARGET,
      metric: 'inner product on unit vectors',
    },
    // The FAISS process's environment: the handicaps removed, threads pinned; its BLAS as threadpoolctl sees it
    // in that environment (each run's faiss.blas is the same report from inside the peer, after its searches).
    peer: {
      python,
      removed_from_env: BLAS_HANDICAPS,
      threads: THREADS,
      openblas_coretype: peerChoice.choice,
      coretype_probes: peerChoice.probes,
      blas: peerBlas,
    },
    runs,
    summary,
    targets: { ann_qps_at_target_recall: 1.0, exact_qps: 0.8, memory: 1.2 },
  };
  writeResult(flags.name, result);

  console.error('\nratio (service / FAISS)              median  [min, max]   target');
  const line = (name, s, target, higherIsBetter) => {
    if (!s) return console.error(`${name.padEnd(36)}   n/a`);
    const ok = higherIsBetter ? s.min >= target : s.max <= target;
    console.error(
      `${name.padEnd(36)} ${s.median.toFixed(2).padStart(6)}  [${s.min.toFixed(2)}, ${s.max.toFixed(2)}]   ${higherIsBetter ? '>=' : '<='} ${target}  ${ok ? 'ok in every run' : 'MISSED in some run'}`,
    );
  };
  if (!EXACT_ONLY) {
    line(`ANN QPS at recall@${K} >= ${TARGET}`, summary.ann_qps_ratio_at_target_recall, 1.0, true);
    line(`  (interpolated at recall ${TARGET})`, summary.ann_qps_ratio_interpolated, 1.0, true);
  }
  line('exact QPS (vs IndexFlatIP)', summary.exact_qps_ratio, 0.8, true);
  if (!EXACT_ONLY) {
    line('memory (vs IndexHNSWFlat)', summary.memory_ratio, 1.2, false);
    console.error(`build time ratio ${summary.build_time_ratio.median.toFixed(2)} (service through gRPC vs FAISS in-process)`);
  }
  console.error(`FAISS BLAS: ${JSON.stringify(peerBlas)}`);
  console.error(`results: tools/bench/results/${flags.name}.json`);
}

await main();
