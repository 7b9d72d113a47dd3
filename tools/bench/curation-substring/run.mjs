#!/usr/bin/env node
// curation-substring benchmark (issue 12): LAIONet substring matching with the exactly-one-synset rule.
//
//   node tools/bench/curation-substring/run.mjs            # the sizes (see README.md)
//        [--captions 10000000] [--peer-captions 100000] [--kafka-captions 1000000] [--tasks 48 | --task-size N]
//        [--repeats 3] [--skip-matcher] [--skip-kafka] [--cpu-prof] [--trace-gc] [--keep] [--main packages/curator/dist/main.js]
//
// 1. Matcher, captions/s per core: @select/taxonomy's CaptionMatcher (one thread, matching time only) over all
//    --captions synthetic captions, and against a straightforward Python implementation of LAIONet's method
//    (`' ' + lemma + ' ' in caption` for each of the 1,824 lemmas) on the first --peer-captions of them (the peer
//    is ~300x slower): both matchers time the same prefix, interleaved over the repeats, and must keep the same
//    captions per class there. Target: >= 10x per core.
// 2. A build through Kafka: the curator (no local workers) and 1 or 2 `main.js worker` processes build the first
//    --kafka-captions captions (captions-jsonl pool, substring-match, dry run: no images, every decision still
//    published), the 1- and 2-worker builds interleaved over the repeats; paired ratios. Timed from StartCuration
//    to SUCCEEDED, workers started (and their consumer group assigned) before. Every build also reports the CPU
//    seconds of each process (curator, workers, Kafka broker, ClickHouse, this script, everything else on the
//    machine) from /proc, and the workers' per-task phases. Target: >= 1.7x.
//
// Writes tools/bench/results/curation-substring.json (a run at smaller sizes: curation-substring-reduced.json).
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ROOT, interleave, machineInfo, median, pairedRatios, peerEnv, projectPython, uptime, wholeOption, writeResult } from '../lib/bench-kit.mjs';

const here = join(ROOT, 'tools/bench/curation-substring');
const { values: args } = parseArgs({
  options: {
    captions: { type: 'string', default: '10000000' },
    'peer-captions': { type: 'string', default: '100000' },
    'kafka-captions': { type: 'string', default: '1000000' },
    tasks: { type: 'string', default: '48' },
    'task-size': { type: 'string' },
    repeats: { type: 'string', default: '3' },
    'skip-matcher': { type: 'boolean', default: false },
    'skip-kafka': { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    // Workers run with --trace-gc; each build reports their collections (count, main-thread ms, reasons).
    'trace-gc': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    // Another curator to measure (e.g. a previous commit's src/main.ts, run through tsx): before/after comparisons.
    main: { type: 'string' },
  },
});
const N = wholeOption('captions', args.captions);
const PEER_N = Math.min(N, wholeOption('peer-captions', args['peer-captions']));
const KAFKA_N = wholeOption('kafka-captions', args['kafka-captions']);
const REPEATS = wholeOption('repeats', args.repeats);
const TASK_SIZE = args['task-size'] !== undefined ? wholeOption('task-size', args['task-size']) : Math.ceil(KAFKA_N / wholeOption('tasks', args.tasks));
const TASKS = Math.ceil(KAFKA_N / TASK_SIZE);
const cache = join(ROOT, 'tools/bench/.cache/curation-substring');
mkdirSync(cache, { recursive: true });
const log = (m) => process.stderr.write(`[curation-substring] ${m}\n`);
const uptimeBefore = uptime();

const { loadImageNetTaxonomy } = await import('@select/taxonomy');
const taxonomy = loadImageNetTaxonomy();
const lemmaTable = [...taxonomy.laionet.lemmas.entries()];

// ---- captions ------------------------------------------------------------------------------------
// Deterministic: the first K captions are the same whatever the total, so every size shares one file.
const FILLER = (
  'the a of and in on with for photo image picture stock vector illustration art drawing design isolated white background ' +
  'free download high quality hd wallpaper close up view beautiful cute funny old new vintage modern simple icon logo ' +
  'black red blue green yellow small large big little sale buy online shop best cheap home garden summer winter day night ' +
  'man woman girl boy kids family people hand face sky tree flower water street city house room table light dark color ' +
  'cartoon sketch pattern texture poster card print t-shirt mug sticker 3d render realistic abstract set collection'
).split(' ');
const PUNCT = [',', '.', '!', ' -', ':', ' |', ';', '...'];
function* makeCaptions(count) {
  let state = 12345;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = (list) => list[Math.floor(random() * list.length)];
  for (let i = 0; i < count; i++) {
    const words = Array.from({ length: 4 + Math.floor(random() * 21) }, () => pick(FILLER));
    const r = random();
    const lemmas = r < 0.45 ? 1 : r < 0.53 ? 2 : 0;
    for (let k = 0; k < lemmas; k++) words.splice(Math.floor(random() * (words.length + 1)), 0, pick(lemmaTable)[0]);
    let caption = words.map((w) => (random() < 0.1 ? w[0].toUpperCase() + w.slice(1) : w)).join(' ');
    if (random() < 0.4) caption += pick(PUNCT);
    if (random() < 0.2) caption = caption.replace(' ', `${pick(PUNCT)} `);
    yield caption;
  }
}
async function writeLines(file, lines) {
  const out = createWriteStream(`${file}.tmp`);
  for await (const line of lines) if (!out.write(`${line}\n`)) await once(out, 'drain');
  out.end();
  await once(out, 'finish');
  renameSync(`${file}.tmp`, file);
}
/** The first `count` lines of a file, streamed. */
async function* firstLines(file, count) {
  if (count <= 0) return;
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let i = 0;
  for await (const line of lines) {
    yield line;
    if (++i >= count) break;
  }
  lines.close();
}
const TOTAL = Math.max(args['skip-matcher'] ? 0 : N, args['skip-kafka'] ? 0 : KAFKA_N);
const existing = readdirSync(cache)
  .map((name) => /^captions-(\d+)\.txt$/.exec(name))
  .filter(Boolean)
  .map((m) => Number(m[1]))
  .filter((n) => n >= TOTAL)
  .sort((a, b) => a - b)[0];
const textFile = join(cache, `captions-${existing ?? TOTAL}.txt`);
if (existing === undefined) {
  log(`generating ${TOTAL.toLocaleString()} captions into ${textFile}`);
  await writeLines(textFile, makeCaptions(TOTAL));
}
const lemmaFile = join(cache, 'lemmas.json');
writeFileSync(lemmaFile, JSON.stringify(lemmaTable));

// ---- 1. matcher ----------------------------------------------------------------------------------
let matcherResult = null;
if (!args['skip-matcher']) {
  const python = projectPython();
  const matcher = taxonomy.laionet.matcher();
  const prefix = [];
  for await (const line of firstLines(textFile, PEER_N)) prefix.push(line);
  const countKept = (captions) => {
    const perClass = {};
    let kept = 0;
    const started = performance.now();
    for (const caption of captions) {
      const wnid = matcher.findUniqueSynset(caption);
      if (wnid !== undefined) {
        kept++;
        perClass[wnid] = (perClass[wnid] ?? 0) + 1;
      }
    }
    return { seconds: (performance.now() - started) / 1000, kept, perClass };
  };
  /** Every caption of the file (N of them), read in batches of 100,000; only matching is timed. */
  const matchAll = async () => {
    let seconds = 0;
    let kept = 0;
    let batch = [];
    const flush = () => {
      const out = countKept(batch);
      seconds += out.seconds;
      kept += out.kept;
      batch = [];
    };
    for await (const line of firstLines(textFile, N)) {
      batch.push(line);
      if (batch.length === 100_000) flush();
    }
    flush();
    return { seconds, kept };
  };
  countKept(prefix.slice(0, 200_000)); // JIT warm-up
  let tsPrefixKept;
  const peerEnvironment = peerEnv(1);
  const runs = await interleave(
    {
      ts: async () => {
        const out = countKept(prefix);
        tsPrefixKept = out;
        return out;
      },
      peer: async () => {
        const child = spawn(python, [join(here, 'laionet_peer.py'), lemmaFile, textFile, String(PEER_N)], { env: peerEnvironment, stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.setEncoding('utf8').on('data', (c) => (out += c));
        const [code] = await once(child, 'exit');
        if (code !== 0) throw new Error(`laionet_peer.py exited with ${code}`);
        return JSON.parse(out);
      },
      tsAll: matchAll,
    },
    REPEATS,
    log,
  );
  for (const peer of runs.peer) {
    const same = JSON.stringify(Object.entries(peer.perClass).sort()) === JSON.stringify(Object.entries(tsPrefixKept.perClass).sort());
    if (!same || peer.kept !== tsPrefixKept.kept) throw new Error(`the matchers disagree on the prefix: TS kept ${tsPrefixKept.kept}, Python ${peer.kept}`);
  }
  const rate = (n, s) => Math.round(n / s);
  const sameCaptions = pairedRatios(runs.ts.map((r) => r.seconds), runs.peer.map((r) => r.seconds));
  // Per-core rates: TS over every caption against the peer over its prefix, per repeat.
  const perCore = pairedRatios(runs.tsAll.map((r) => r.seconds / N), runs.peer.map((r) => r.seconds / PEER_N));
  matcherResult = {
    captions: N,
    peerCaptions: PEER_N,
    keptOfAll: runs.tsAll[0].kept,
    keptOfPrefix: tsPrefixKept.kept,
    sameKeptPerClassOnPrefix: true,
    tsCaptionsPerSecondPerCore: runs.tsAll.map((r) => rate(N, r.seconds)),
    tsPrefixCaptionsPerSecondPerCore: runs.ts.map((r) => rate(PEER_N, r.seconds)),
    peerCaptionsPerSecondPerCore: runs.peer.map((r) => rate(PEER_N, r.seconds)),
    ratioOnPrefix: sameCaptions,
    ratioAllVsPeerPrefix: perCore,
    target: '>= 10x',
  };
  log(`matcher: TS ${median(matcherResult.tsCaptionsPerSecondPerCore).toLocaleString()}/s over ${N.toLocaleString()}, Python ${median(matcherResult.peerCaptionsPerSecondPerCore).toLocaleString()}/s: ${sameCaptions.median.toFixed(0)}x on the same ${PEER_N.toLocaleString()} captions (target >= 10x)`);
}

// ---- 2. build through Kafka with 1 and 2 workers -------------------------------------------------
/**
 * utime + stime of a process in seconds (/proc/<pid>/stat fields 14 and 15), or null when it cannot be read;
 * with `thread`, of that one thread (/proc/<pid>/task/<tid>/stat; the main thread's tid is the pid).
 */
function cpuSeconds(pid, thread) {
  try {
    const stat = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}
/** Busy CPU seconds of the whole machine (every core) from /proc/stat. */
function machineBusySeconds() {
  const [, ...values] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = values;
  return (user + nice + system + irq + softirq + steal) / 100;
}
const pidFrom = (file) => {
  try {
    return Number(readFileSync(file, 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
};

let kafkaResult = null;
if (!args['skip-kafka']) {
  const poolFile = join(cache, `captions-${KAFKA_N}.jsonl`);
  if (!existsSync(poolFile)) {
    log(`writing the Kafka pool ${poolFile}`);
    let i = 0;
    async function* records() {
      for await (const caption of firstLines(textFile, KAFKA_N)) yield JSON.stringify({ id: `c${i++}`, caption });
    }
    await writeLines(poolFile, records());
  }
  const runId = Date.now().toString(36);
  const prefix = `bench-cur-${runId}-`;
  const dataDir = join(cache, `curator-${runId}`);
  const profileDir = join(cache, `profiles-${runId}`);
  const env = {
    ...process.env,
    CURATOR_KAFKA_TOPIC_PREFIX: prefix,
    CURATOR_WORKER_GROUP: `${prefix}workers`,
    CURATOR_DATA_DIR: dataDir,
    CURATOR_WORKER_SESSION_TIMEOUT_MS: '10000',
    CURATOR_MAX_TASK_SIZE: String(Math.max(1_000_000, TASK_SIZE)),
    LOG_LEVEL: 'info',
  };
  const { spawnWithJsonLogs, deleteTopicsWithPrefix } = await import('@select/testing');
  const { packageDefinition } = await import('@select/contracts');
  const { createGrpcClient, unary } = await import('@select/platform');
  const main = args.main ?? join(ROOT, 'packages/curator/dist/main.js');
  const nodeArgs = [...(main.endsWith('.ts') ? ['--import', 'tsx'] : [])];
  const startProcess = (extra, argv = [], profileName) =>
    spawnWithJsonLogs(
      process.execPath,
      [
        ...nodeArgs,
        ...(args['cpu-prof'] && profileName ? ['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-name', `${profileName}.cpuprofile`] : []),
        ...(args['trace-gc'] && argv[0] === 'worker' ? ['--trace-gc'] : []),
        main,
        ...argv,
      ],
      { cwd: ROOT, env: { ...env, ...extra } },
    );
  /** A worker's collections from its --trace-gc lines: per kind the count and main-thread ms, and the reasons. */
  const gcSummary = (logs) => {
    const kinds = {};
    for (const { msg } of logs) {
      const m = typeof msg === 'string' ? /ms: (Scavenge|Minor Mark-Compact|Mark-Compact(?: \(reduce\))?|Mark-Sweep)\b.*?MB, ([\d.]+) \/ [\d.]+ ms(?:\s+\(\+ ([\d.]+) ms in)?.*\) ([^)]*?);?\s*$/.exec(msg) : null;
      if (!m) continue;
      const kind = (kinds[m[1]] ??= { count: 0, ms: 0, incrementalMs: 0, reasons: {} });
      kind.count++;
      kind.ms += Number(m[2]);
      kind.incrementalMs += Number(m[3] ?? 0);
      const reason = m[4].trim();
      kind.reasons[reason] = (kind.reasons[reason] ?? 0) + 1;
    }
    for (const kind of Object.values(kinds)) {
      kind.ms = Math.round(kind.ms);
      kind.incrementalMs = Math.round(kind.incrementalMs);
    }
    return kinds;
  };
  const curator = startProcess({ CURATOR_PORT: '0', CURATOR_LOCAL_WORKERS: '0' }, [], 'curator');
  const address = String((await curator.waitForLog('curator listening', 120_000)).address);
  const client = createGrpcClient(packageDefinition('curation'), 'select.curation.v1.CuratorService', address);
  const kafkaPid = pidFrom(join(ROOT, 'infra/.data/kafka/kafka.pid'));
  const clickhousePid = pidFrom(join(ROOT, 'infra/.data/clickhouse/clickhouse.pid'));

  /**
   * Waits until the workers' latest assignments split the tasks topic's partitions between all of them. A curator
   * whose workers do not log their group joins (before this benchmark's commit) gets 10 s after starting instead.
   */
  const waitForGroup = async (workers) => {
    const started = Date.now();
    const deadline = started + 120_000;
    for (;;) {
      const latest = workers.map((w) => w.logs.filter((l) => l.msg === 'joined consumer group').pop());
      if (latest.every((l) => l === undefined) && Date.now() - started > 10_000) return;
      if (latest.every(Boolean)) {
        const partitions = latest.map((l) => Object.values(l.assignment ?? {}).flat());
        const all = partitions.flat();
        if (partitions.every((p) => p.length > 0) && new Set(all).size === all.length && all.length === 12) return;
      }
      if (Date.now() > deadline) throw new Error(`the workers' group never settled: ${JSON.stringify(latest.map((l) => l?.assignment))}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  /** A dry-run build of the first `limit` captions (0: all) in tasks of `taskSize`; its final JobStatus. */
  const runShift = async (name, limit, taskSize) => {
    const job = await unary(client, 'StartCuration', {
      shiftName: name,
      pool: { uri: poolFile, format: 'captions-jsonl', name: 'synthetic-laion', limit: String(limit) },
      steps: [{ name: 'substring-match', paramsJson: '{}' }],
      taskSize,
      dryRun: true,
    });
    // WatchJob streams every change: no polling (this script's CPU competes with the workers).
    let status = job;
    for await (const update of client.WatchJob({ jobId: job.jobId })) {
      status = update;
      if (['JOB_STATE_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED'].includes(status.state)) break;
    }
    if (status.state !== 'JOB_STATE_SUCCEEDED') throw new Error(`build ${name}: ${status.state} ${status.message}`);
    return status;
  };

  // Workers are long-lived in a deployment; here each build starts its own, so each build first runs an
  // untimed warm-up build (24 tasks of 2,000 captions: every worker JIT-compiles the hot paths, the
  // coordinator too) on the same workers, and only the build after it is timed.
  const WARM_TASK = 2000;
  let buildNo = 0;
  const build = async (workerCount) => {
    const name = `bench-${workerCount}w-${buildNo++}`; // unique in this run (its own data folder and topics)
    const workers = Array.from({ length: workerCount }, (_, i) => startProcess({ CURATOR_WORKER_ID: `${name}-${i}` }, ['worker'], `${name}-worker-${i}`));
    const stopWorkers = async () => {
      for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
      await Promise.all(workers.map((w) => w.exited));
    };
    try {
      await Promise.all(workers.map((w) => w.waitForLog('curator worker consuming tasks', 120_000)));
      await waitForGroup(workers);
      await runShift(`${name}-warm`, 24 * WARM_TASK, WARM_TASK);
    } catch (error) {
      await stopWorkers();
      throw error;
    }
    const workerLogsBefore = workers.map((w) => w.logs.length);
    const pids = { curator: curator.child.pid, kafka: kafkaPid, clickhouse: clickhousePid, ...Object.fromEntries(workers.map((w, i) => [`worker${i}`, w.child.pid])) };
    // A worker's JavaScript runs on its main thread; the rest of its CPU is V8's GC and compiler threads and libuv's
    // pool, which a 1-worker build gets from the idle second core and a 2-worker build takes from the other worker.
    const mainThreads = Object.fromEntries(workers.map((w, i) => [`worker${i}`, w.child.pid]));
    const mainBefore = Object.fromEntries(Object.entries(mainThreads).map(([k, pid]) => [k, cpuSeconds(pid, pid)]));
    const cpuBefore = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, pid === undefined ? null : cpuSeconds(pid)]));
    const benchBefore = process.cpuUsage();
    const machineBefore = machineBusySeconds();
    const curatorLogsBefore = curator.logs.length;
    const t0 = performance.now();
    const status = await runShift(name, 0, TASK_SIZE).catch(async (error) => {
      await stopWorkers();
      throw error;
    });
    const seconds = (performance.now() - t0) / 1000;
    const machineBusy = machineBusySeconds() - machineBefore;
    const bench = process.cpuUsage(benchBefore);
    const cpu = {};
    for (const [k, pid] of Object.entries(pids)) {
      const after = pid === undefined ? null : cpuSeconds(pid);
      cpu[k] = after === null || cpuBefore[k] === null ? null : Number((after - cpuBefore[k]).toFixed(2));
    }
    const workerMainThread = {};
    for (const [k, pid] of Object.entries(mainThreads)) {
      const after = cpuSeconds(pid, pid);
      workerMainThread[k] = after === null || mainBefore[k] === null ? null : Number((after - mainBefore[k]).toFixed(2));
    }
    cpu.bench = Number(((bench.user + bench.system) / 1e6).toFixed(2));
    const ours = Object.values(cpu).reduce((s, v) => s + (v ?? 0), 0);
    cpu.machine = Number(machineBusy.toFixed(2));
    cpu.others = Number((machineBusy - ours).toFixed(2));
    await stopWorkers();

    // Where the workers' time went: their tasks' phases, and how long each was busy.
    const perWorker = workers.map((w, i) => {
      const finished = w.logs.slice(workerLogsBefore[i]).filter((l) => l.msg === 'task finished' && l.outcome === 'done');
      const phases = {};
      for (const f of finished) for (const [k, v] of Object.entries(f.phases ?? {})) phases[k] = (phases[k] ?? 0) + v;
      return {
        worker: i,
        tasks: finished.length,
        records: finished.reduce((s, f) => s + (f.records ?? 0), 0),
        phasesSeconds: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, Number((v / 1000).toFixed(2))])),
        lastTaskFinishedAt: finished.length > 0 ? new Date(finished[finished.length - 1].time).getTime() : null,
        ...(args['trace-gc'] ? { gc: gcSummary(w.logs.slice(workerLogsBefore[i])) } : {}),
      };
    });
    const ends = perWorker.map((w) => w.lastTaskFinishedAt).filter((t) => Number.isFinite(t));
    const coordinator = Object.fromEntries(
      curator.logs
        .slice(curatorLogsBefore)
        .filter((l) => typeof l.ms === 'number' && ['build planned', 'shard tasks published', 'every task committed', 'build published'].includes(l.msg))
        .map((l) => [l.msg, l.ms]),
    );
    const out = {
      seconds,
      serverSeconds: (Number(status.updatedUnixMs) - Number(status.createdUnixMs)) / 1000,
      candidatesPerSecond: Math.round(KAFKA_N / seconds),
      message: status.message,
      cpuSeconds: cpu,
      workerMainThreadCpuSeconds: workerMainThread,
      coordinatorMs: coordinator,
      workers: perWorker.map(({ lastTaskFinishedAt, ...rest }) => rest),
      lastTasksApartSeconds: ends.length > 1 ? Number(((Math.max(...ends) - Math.min(...ends)) / 1000).toFixed(2)) : 0,
      loadAverage: uptime(),
    };
    log(`${workerCount} worker(s): ${KAFKA_N.toLocaleString()} captions in ${seconds.toFixed(2)} s; CPU s ${JSON.stringify(cpu)}, workers' main threads ${JSON.stringify(workerMainThread)}; tasks ${perWorker.map((w) => w.tasks).join('/')}`);
    if (args['trace-gc']) for (const w of perWorker) log(`  worker ${w.worker} GC: ${JSON.stringify(w.gc)}`);
    return out;
  };

  try {
    // Untimed: the pool file into the page cache.
    for await (const _ of createReadStream(poolFile, { highWaterMark: 1 << 22 }));
    const runs = await interleave({ oneWorker: () => build(1), twoWorkers: () => build(2) }, REPEATS, log);
    const speedup = pairedRatios(runs.twoWorkers.map((r) => r.seconds), runs.oneWorker.map((r) => r.seconds));
    kafkaResult = { captions: KAFKA_N, taskSize: TASK_SIZE, tasks: TASKS, repeats: REPEATS, speedup, target: '>= 1.7x', oneWorker: runs.oneWorker, twoWorkers: runs.twoWorkers };
    log(`Kafka build: ${speedup.perRepeat.map((x) => x.toFixed(2)).join(', ')} (median ${speedup.median.toFixed(2)}x) with 2 workers (target >= 1.7x)`);
  } finally {
    client.close();
    curator.child.kill('SIGTERM');
    await curator.exited;
    await deleteTopicsWithPrefix(prefix).catch(() => undefined);
    if (!args.keep) rmSync(dataDir, { recursive: true, force: true });
    if (args['cpu-prof']) log(`CPU profiles in ${profileDir} (summarise: node tools/bench/curation-substring/profile-summary.mjs ${profileDir}/*.cpuprofile)`);
  }
}

const full = N >= 10_000_000 && KAFKA_N >= 1_000_000 && REPEATS >= 3 && !args['skip-matcher'] && !args['skip-kafka'];
// Only a run at the sizes replaces the recorded result; smaller runs go beside it.
writeResult(full ? 'curation-substring' : 'curation-substring-reduced', {
  name: 'curation-substring',
  date: new Date().toISOString(),
  machine: machineInfo(),
  uptimeBefore,
  uptimeAfter: uptime(),
  args,
  matcher: matcherResult,
  kafkaBuild: kafkaResult,
  note: full ? undefined : `reduced run (captions ${N.toLocaleString()}, through Kafka ${KAFKA_N.toLocaleString()}, ${REPEATS} repeat(s)); the issue's sizes are the defaults`,
});
