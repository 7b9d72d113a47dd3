#!/usr/bin/env node
// Retrieval benchmark: the retrieval service, called over gRPC as a user would, against FAISS
// (IndexHNSWFlat with the same M / efConstruction / efSearch, and IndexFlatIP) on the same clustered
// synthetic vectors in the same run.
//
//   node tools/bench/retrieval/run.mjs [--n 1000000] [--queries 10000] [--dim 512] [--k 10]
//        [--m 16] [--ef-construction 128] [--ef 16,24,32,36,40,44,48,56,64,96,128] [--batch 1000] [--rounds 2] [--out FILE]
//
// The machine is shared (2 cores, other work running), so searches are interleaved — FAISS at one
// setting, then the service at the same setting — and each QPS is the best of --rounds passes.
//
// Needs: `npm run build` (the service's dist and the native addon) and tools/bench/.venv with
// faiss-cpu and numpy (python3 -m venv tools/bench/.venv && tools/bench/.venv/bin/pip install faiss-cpu numpy).
// Data and ground truth are cached under tools/bench/.cache/retrieval. Results: tools/bench/results/retrieval.json.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, createWriteStream, mkdirSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { RetrievalClient } from '@select/retrieval-service';

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
    out: { type: 'string', default: join(repo, 'tools', 'bench', 'results', 'retrieval.json') },
  },
});
const N = Number(flags.n);
const Q = Number(flags.queries);
const D = Number(flags.dim);
const K = Number(flags.k);
const M = Number(flags.m);
const EFC = Number(flags['ef-construction']);
const EFS = flags.ef.split(',').map(Number);
const BATCH = Number(flags.batch);
const TARGET = Number(flags.target);
const ROUNDS = Number(flags.rounds);

function log(...args) {
  console.log(`[${new Date().toISOString().slice(11, 19)}]`, ...args);
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

function machine() {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    usearch: JSON.parse(readFileSync(join(repo, 'node_modules', 'usearch', 'package.json'), 'utf8')).version,
  };
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

async function main() {
  const loadAtStart = load();
  mkdirSync(cache, { recursive: true });
  log(`data: ${N} x ${D}, ${Q} queries (clustered synthetic)`);
  execFileSync(python, [join(here, 'make_data.py'), '--n', String(N), '--queries', String(Q), '--dim', String(D), '--out', cache], {
    stdio: 'inherit',
  });
  const basePath = join(cache, `base-${N}.f32`);
  const queryPath = join(cache, `queries-${Q}.f32`);
  const gtPath = join(cache, `gt-${N}-${Q}-${K}.i32`);

  log('FAISS: IndexHNSWFlat and IndexFlatIP (ground truth)');
  const peerArgs = [join(here, 'faiss_peer.py'), '--base', basePath, '--queries', queryPath, '--dim', String(D), '--k', String(K)];
  peerArgs.push('--m', String(M), '--ef-construction', String(EFC), '--gt', gtPath);
  const peer = spawn(python, peerArgs, { stdio: ['pipe', 'pipe', 'inherit'] });
  const peerLines = createInterface({ input: peer.stdout })[Symbol.asyncIterator]();
  const ask = async (command) => {
    if (command) peer.stdin.write(`${command}\n`);
    const { value, done } = await peerLines.next();
    if (done) throw new Error('the FAISS peer exited');
    return JSON.parse(value);
  };
  const faiss = await ask();
  faiss.hnsw.sweep = [];
  log(`FAISS HNSW build ${faiss.hnsw.build_seconds.toFixed(1)} s, ${(faiss.hnsw.memory_bytes / 2 ** 30).toFixed(2)} GiB; flat ${faiss.flat.qps.toFixed(0)} QPS`);
  const truth = new Int32Array(readFileSync(gtPath).buffer.slice(0));

  const dataDir = join(cache, 'service-data');
  rmSync(dataDir, { recursive: true, force: true });
  const { child, address } = await startService(dataDir);
  const client = new RetrievalClient(address, { defaultDeadlineMs: 3_600_000 });
  const service = { sweep: [] };
  try {
    await new Promise((r) => setTimeout(r, 500));
    const idle = rss(child.pid);
    await client.createIndex({ name: 'bench', dimension: D, metric: 'METRIC_INNER_PRODUCT', ann: { connectivity: M, efConstruction: EFC } });

    log('service: AddVectors streams');
    const fd = openSync(basePath, 'r');
    const started = performance.now();
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
    service.build_seconds = (performance.now() - started) / 1000;
    await new Promise((r) => setTimeout(r, 1000));
    const built = rss(child.pid);
    const stats = await client.getStats('bench');
    service.memory_bytes = built.rss - idle.rss;
    service.peak_rss_bytes = built.peak;
    service.index_bytes_reported = Number(stats.memoryBytes);
    service.huge_page_bytes = hugePages(child.pid);
    log(`service build ${service.build_seconds.toFixed(1)} s, memory ${(service.memory_bytes / 2 ** 30).toFixed(2)} GiB (${(service.huge_page_bytes / 2 ** 30).toFixed(2)} GiB on huge pages)`);

    const queries = new Float32Array(readFileSync(queryPath).buffer.slice(0));
    log('exact search: service, then FAISS IndexFlatIP');
    const exact = await searchAll(client, queries, { exact: true }, child.pid);
    service.exact = { qps: exact.qps, search_seconds: exact.seconds, recall: recallAt(exact.results, truth) };
    faiss.flat = await ask('flat');
    log(`  service ${exact.qps.toFixed(0)} QPS (recall vs FAISS flat ${service.exact.recall.toFixed(4)}), FAISS ${faiss.flat.qps.toFixed(0)} QPS`);
    for (let round = 0; round < ROUNDS; round++) {
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
    rmSync(dataDir, { recursive: true, force: true });
  }

  const ours = atTarget(service.sweep);
  const theirs = atTarget(faiss.hnsw.sweep);
  const oursInterpolated = interpolatedAtTarget(service.sweep);
  const theirsInterpolated = interpolatedAtTarget(faiss.hnsw.sweep);
  const ratios = {
    ann_qps_at_target_recall: ours && theirs ? ours.qps / theirs.qps : null,
    ann_qps_interpolated_at_target_recall: oursInterpolated && theirsInterpolated ? oursInterpolated / theirsInterpolated : null,
    exact_qps: service.exact.qps / faiss.flat.qps,
    memory: service.memory_bytes / faiss.hnsw.memory_bytes,
    build_time: service.build_seconds / faiss.hnsw.build_seconds,
  };
  const result = {
    when: new Date().toISOString(),
    machine: { ...machine(), load_at_start: loadAtStart, load_at_end: load() },
    params: { n: N, queries: Q, dim: D, k: K, m: M, ef_construction: EFC, ef: EFS, batch: BATCH, rounds: ROUNDS, target_recall: TARGET, metric: 'inner product on unit vectors' },
    service,
    faiss,
    at_target: {
      service: ours ?? null,
      faiss: theirs ?? null,
      service_interpolated_qps: oursInterpolated,
      faiss_interpolated_qps: theirsInterpolated,
    },
    ratios,
    targets: { ann_qps_at_target_recall: 1.0, exact_qps: 0.8, memory: 1.2 },
  };
  mkdirSync(dirname(flags.out), { recursive: true });
  writeFileSync(flags.out, `${JSON.stringify(result, null, 2)}\n`);
  console.log('\nratio (service / FAISS)              value   target');
  const line = (name, value, target, higherIsBetter) =>
    console.log(
      `${name.padEnd(36)} ${value === null ? '  n/a' : value.toFixed(2).padStart(5)}   ${higherIsBetter ? '>=' : '<='} ${target}` +
        (value === null ? '' : (higherIsBetter ? value >= target : value <= target) ? '  ok' : '  MISSED'),
    );
  line(`ANN QPS at recall@${K} >= ${TARGET}`, ratios.ann_qps_at_target_recall, 1.0, true);
  line(`  (interpolated at recall ${TARGET})`, ratios.ann_qps_interpolated_at_target_recall, 1.0, true);
  line('exact QPS (vs IndexFlatIP)', ratios.exact_qps, 0.8, true);
  line('memory (vs IndexHNSWFlat)', ratios.memory, 1.2, false);
  console.log(`build time ratio ${ratios.build_time.toFixed(2)} (service through gRPC vs FAISS in-process)`);
  console.log(`results: ${flags.out}`);
}

await main();
