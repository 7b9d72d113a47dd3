#!/usr/bin/env node
// curation-substring benchmark (issue 12): LAIONet substring matching with the exactly-one-synset rule.
//
//   node tools/bench/curation-substring/run.mjs [--captions 10000000] [--peer-captions 100000]
//        [--kafka-captions 1000000] [--task-size 50000] [--skip-kafka]
//
// 1. Matcher, captions/s per core: @select/taxonomy's CaptionMatcher over every synthetic caption (one
//    thread) against a straightforward Python implementation of LAIONet's method (`' ' + lemma + ' ' in
//    caption` for each of the 1,824 lemmas) on the first --peer-captions of the same captions, in the same
//    run (the peer is ~100x slower, so it runs on a prefix; both report matching time only, reading
//    excluded). The kept counts per class must agree on the prefix. Target: >= 10x.
// 2. A build through Kafka: the curator (no local workers) and 1, then 2, `select curator worker`
//    processes building the same --kafka-captions captions (captions-jsonl pool, substring-match, dry run:
//    no images; every decision still published). Reported: candidates/s with 1 and 2 workers and their
//    ratio. Target: >= 1.7x. The two builds are two shifts (different names) on the same pool.
//
// Captions: synthetic LAION-like alt-texts (tools/bench/.cache/curation-substring/, reused): 4-24 words of
// filler vocabulary, punctuation, some capitalised; 45 % carry one class lemma, 8 % two, at random places.
// Writes tools/bench/results/curation-substring.json.
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../../..');
const { values: args } = parseArgs({
  options: {
    captions: { type: 'string', default: '10000000' },
    'peer-captions': { type: 'string', default: '100000' },
    'kafka-captions': { type: 'string', default: '1000000' },
    'task-size': { type: 'string', default: '50000' },
    'skip-kafka': { type: 'boolean', default: false },
  },
});
const N = Number(args.captions);
const PEER_N = Math.min(N, Number(args['peer-captions']));
const KAFKA_N = Math.min(N, Number(args['kafka-captions']));
const python = existsSync(join(root, '.work/py/bin/python')) ? join(root, '.work/py/bin/python') : 'python3';
const cache = join(root, 'tools/bench/.cache/curation-substring');
mkdirSync(cache, { recursive: true });
const log = (m) => process.stderr.write(`[curation-substring] ${m}\n`);

log('building @select/curator and its dependencies');
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b', 'packages/curator/tsconfig.lib.json'], { cwd: root, stdio: 'inherit' });
const { loadImageNetTaxonomy } = await import('@select/taxonomy');
const taxonomy = loadImageNetTaxonomy();
const lemmaTable = [...taxonomy.laionet.lemmas.entries()];

// ---- captions ------------------------------------------------------------------------------------
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
const textFile = join(cache, `captions-${N}.txt`);
const jsonlFile = join(cache, `captions-${N}.jsonl`);
if (!existsSync(textFile) || !existsSync(jsonlFile)) {
  log(`generating ${N.toLocaleString()} captions`);
  const text = createWriteStream(`${textFile}.tmp`);
  const jsonl = createWriteStream(`${jsonlFile}.tmp`);
  let i = 0;
  for (const caption of makeCaptions(N)) {
    const a = text.write(`${caption}\n`);
    const b = jsonl.write(`${JSON.stringify({ id: `c${i++}`, caption })}\n`);
    if (!a) await once(text, 'drain');
    if (!b) await once(jsonl, 'drain');
  }
  text.end();
  jsonl.end();
  await Promise.all([once(text, 'finish'), once(jsonl, 'finish')]);
  renameSync(`${textFile}.tmp`, textFile);
  renameSync(`${jsonlFile}.tmp`, jsonlFile);
}
const lemmaFile = join(cache, 'lemmas.json');
writeFileSync(lemmaFile, JSON.stringify(lemmaTable));

// ---- 1. matcher ----------------------------------------------------------------------------------
const captions = readFileSync(textFile, 'utf8').split('\n');
captions.pop();
const matcher = taxonomy.laionet.matcher();
const countPrefix = (limit) => {
  const perClass = {};
  let kept = 0;
  for (let i = 0; i < limit; i++) {
    const wnid = matcher.findUniqueSynset(captions[i]);
    if (wnid !== undefined) {
      kept++;
      perClass[wnid] = (perClass[wnid] ?? 0) + 1;
    }
  }
  return { kept, perClass };
};
countPrefix(Math.min(N, 200_000)); // warm-up (JIT)
log(`TS matcher over ${N.toLocaleString()} captions`);
let started = performance.now();
const ts = countPrefix(N);
const tsSeconds = (performance.now() - started) / 1000;
const tsPrefix = countPrefix(PEER_N);
log(`Python peer over the first ${PEER_N.toLocaleString()}`);
const peer = JSON.parse(execFileSync(python, [join(here, 'laionet_peer.py'), lemmaFile, textFile, String(PEER_N)], { encoding: 'utf8', maxBuffer: 1 << 26 }));
const samePerClass = JSON.stringify(Object.entries(peer.perClass).sort()) === JSON.stringify(Object.entries(tsPrefix.perClass).sort());
if (!samePerClass || peer.kept !== tsPrefix.kept) throw new Error(`the matchers disagree on the prefix: TS kept ${tsPrefix.kept}, Python ${peer.kept}`);
const matcherResult = {
  captions: N,
  kept: ts.kept,
  tsCaptionsPerSecondPerCore: Math.round(N / tsSeconds),
  peerCaptions: PEER_N,
  peerCaptionsPerSecondPerCore: Math.round(PEER_N / peer.seconds),
  sameKeptPerClassOnPrefix: samePerClass,
};
matcherResult.ratio = Number((matcherResult.tsCaptionsPerSecondPerCore / matcherResult.peerCaptionsPerSecondPerCore).toFixed(1));
log(`matcher: TS ${matcherResult.tsCaptionsPerSecondPerCore.toLocaleString()}/s, Python ${matcherResult.peerCaptionsPerSecondPerCore.toLocaleString()}/s per core: ${matcherResult.ratio}x (target >= 10x)`);

// ---- 2. build through Kafka with 1 and 2 workers -------------------------------------------------
let kafkaResult;
if (!args['skip-kafka']) {
  const kafkaFile = join(cache, `captions-${KAFKA_N}-prefix.jsonl`);
  if (!existsSync(kafkaFile)) {
    const lines = readFileSync(jsonlFile, 'utf8').split('\n').slice(0, KAFKA_N);
    writeFileSync(kafkaFile, `${lines.join('\n')}\n`);
  }
  const runId = `${Date.now().toString(36)}`;
  const prefix = `bench-cur-${runId}-`;
  const env = { ...process.env, CURATOR_KAFKA_TOPIC_PREFIX: prefix, CURATOR_WORKER_GROUP: `${prefix}workers`, CURATOR_DATA_DIR: join(cache, `curator-${runId}`), CURATOR_WORKER_SESSION_TIMEOUT_MS: '10000', LOG_LEVEL: 'warn' };
  const startProcess = (extra, args2 = []) => spawn(process.execPath, [join(root, 'packages/curator/dist/main.js'), ...args2], { env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'inherit'] });
  const curator = startProcess({ CURATOR_PORT: '0', CURATOR_LOCAL_WORKERS: '0', LOG_LEVEL: 'info' });
  const address = await new Promise((resolveAddress, reject) => {
    let pending = '';
    curator.stdout.setEncoding('utf8').on('data', (chunk) => {
      pending += chunk;
      for (const line of pending.split('\n').slice(0, -1)) {
        try {
          const entry = JSON.parse(line);
          if (entry.msg === 'curator listening') resolveAddress(entry.address);
        } catch {}
      }
      pending = pending.split('\n').pop();
    });
    curator.once('exit', () => reject(new Error('the curator exited')));
  });
  const { packageDefinition } = await import('@select/contracts');
  const { createGrpcClient, unary } = await import('@select/platform');
  const client = createGrpcClient(packageDefinition('curation'), 'select.curation.v1.CuratorService', address);
  const build = async (workers) => {
    const procs = Array.from({ length: workers }, (_, i) => startProcess({ CURATOR_WORKER_ID: `bench-${workers}-${i}` }, ['worker']));
    await new Promise((r) => setTimeout(r, 8000)); // let the group settle before timing
    const t0 = performance.now();
    const job = await unary(client, 'StartCuration', {
      shiftName: `bench-${workers}-workers`,
      pool: { uri: kafkaFile, format: 'captions-jsonl', name: 'synthetic-laion' },
      steps: [{ name: 'substring-match', paramsJson: '{}' }],
      taskSize: Number(args['task-size']),
      dryRun: true,
    });
    let status = job;
    while (!['JOB_STATE_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED'].includes(status.state)) {
      await new Promise((r) => setTimeout(r, 250));
      status = await unary(client, 'GetJob', { jobId: job.jobId });
    }
    const seconds = (performance.now() - t0) / 1000;
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => once(p, 'exit')));
    if (status.state !== 'JOB_STATE_SUCCEEDED') throw new Error(`${workers}-worker build: ${status.message}`);
    log(`${workers} worker(s): ${KAFKA_N.toLocaleString()} captions in ${seconds.toFixed(1)} s (${status.message})`);
    return { seconds, candidatesPerSecond: Math.round(KAFKA_N / seconds), message: status.message };
  };
  try {
    const one = await build(1);
    const two = await build(2);
    kafkaResult = { captions: KAFKA_N, taskSize: Number(args['task-size']), oneWorker: one, twoWorkers: two, speedup: Number((one.seconds / two.seconds).toFixed(2)) };
    log(`Kafka build: ${kafkaResult.speedup}x with 2 workers (target >= 1.7x)`);
  } finally {
    client.close();
    curator.kill('SIGTERM');
    await once(curator, 'exit').catch(() => undefined);
    const { deleteTopicsWithPrefix } = await import('@select/testing');
    await deleteTopicsWithPrefix(prefix).catch(() => undefined);
  }
}

const result = {
  name: 'curation-substring',
  date: new Date().toISOString(),
  machine: { cpu: cpus()[0]?.model, cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), os: `${platform()} ${release()}`, node: process.version, loadAverage1m: loadavg()[0] },
  matcher: matcherResult,
  kafkaBuild: kafkaResult ?? null,
  note: N < 10_000_000 ? `reduced size (${N.toLocaleString()} captions); the full run is 10,000,000` : undefined,
};
mkdirSync(join(root, 'tools/bench/results'), { recursive: true });
writeFileSync(join(root, 'tools/bench/results/curation-substring.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
