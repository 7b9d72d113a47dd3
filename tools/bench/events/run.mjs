#!/usr/bin/env node
// events benchmark: what @select/events and the metrics sink do against Kafka's and ClickHouse's own tools,
// on the same broker and server, in one run, contenders interleaved over repeats, ratios paired per repeat.
//
//   node tools/bench/events/run.mjs [--events 200000] [--repeats 3] [--rate 20000] [--latency-seconds 30] [--skip-latency | --latency-only] [--name events]
//
// 1. Producing: `--events` SampleCurated events (200-byte protobuf bodies, 24 shift ids as keys) through
//    @select/events (idempotent, acks=all) vs Kafka's ProducerPerformance (--record-size 200, acks=all,
//    enable.idempotence=true), each onto a fresh 6-partition topic like select.samples.v1. Target >= 0.5x.
// 2. Landing: the events @select/events just produced, landed as rows by the metrics sink (its own process,
//    `node packages/metrics-sink/dist/main.js`, defaults) vs ConsumerPerformance reading the same topic and
//    `clickhouse-client` inserting the same rows (dumped from the sink's table) as JSONEachRow. Ratio: sink
//    rows/s over the slower of the two. Target >= 0.25x.
// 3. Latency: produce to row visible in SQL at a steady `--rate` events/s (latency.mjs). Target p99 < 2 s.
//
// Every run uses its own topic prefix and databases and deletes them at the end. Kafka's tools come from
// Maven Central at the broker's version (pom.xml here) into tools/bench/.cache/events (git-ignored).
// Results: tools/bench/results/<--name>.json (default events.json; --latency-only: events-latency.json). Preamble (repo
// root, machine facts, uptime, the command runner, results file) from tools/bench/lib/bench-kit.mjs.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT as root, lastJsonLine, machineInfo, median, processCpuSeconds, resultName, runCommand as run, uptime, wholeOption, writeResult } from '../lib/bench-kit.mjs';

const here = join(root, 'tools/bench/events');
const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    repeats: { type: 'string', default: '3' },
    rate: { type: 'string', default: '20000' },
    'latency-seconds': { type: 'string', default: '30' },
    'skip-latency': { type: 'boolean', default: false },
    // only the latency measurement, into results/<name>-latency.json (the throughput results stay as they are)
    'latency-only': { type: 'boolean', default: false },
    // results file tools/bench/results/<name>.json; a check at a small size should not overwrite the recorded one
    name: { type: 'string', default: 'events' },
  },
});
const events = wholeOption('events', args.events);
const repeats = wholeOption('repeats', args.repeats);
const rate = wholeOption('rate', args.rate);
const latencySeconds = wholeOption('latency-seconds', args['latency-seconds']);
resultName(args.name);
const brokers = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const clickhouseUrl = (process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:8123').replace(/\/$/, '');
const cacheDir = join(root, 'tools/bench/.cache/events');
const toolsDir = join(cacheDir, 'kafka-tools');
const PARTITIONS = 6; // select.samples.v1's partition count (packages/events/src/topics.ts)

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// 1. What is measured, built as other packages consume it; Kafka's tools at the broker's version.
run(join(root, 'node_modules/.bin/tsc'), ['-b', 'packages/metrics-sink/tsconfig.lib.json']);
const kafkaVersion = (file) => /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(file, 'utf8'))?.[1];
const brokerVersion = kafkaVersion(join(root, 'infra/kafka/pom.xml'));
if (kafkaVersion(join(here, 'pom.xml')) !== brokerVersion) throw new Error(`tools/bench/events/pom.xml must pin kafka.version ${brokerVersion}, as infra/kafka/pom.xml does`);
if (!existsSync(join(toolsDir, `kafka-tools-${brokerVersion}.jar`))) {
  console.log(`resolving org.apache.kafka:kafka-tools:${brokerVersion} with Maven ...`);
  run('mvn', ['-q', '-B', '-Dstyle.color=never', '-f', join(here, 'pom.xml'), 'dependency:copy-dependencies', `-DoutputDirectory=${toolsDir}`]);
}
const javaClasspath = `${toolsDir}/*`;
const javaVersion = execFileSync('sh', ['-c', 'java -version 2>&1'], { encoding: 'utf8' }).trim();
const clickhouseVersion = run('clickhouse-client', ['--query', 'SELECT version()']).trim();

const { Kafka, logLevel } = await import('kafkajs');
const kafka = new Kafka({ clientId: 'events-bench', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();

async function chQuery(text) {
  // ClickHouse closes idle keep-alive connections after a few seconds; a request that meets a closed one is
  // sent again (every statement here is idempotent).
  for (let attempt = 1; ; attempt++) {
    let response;
    try {
      response = await fetch(`${clickhouseUrl}/`, { method: 'POST', body: text });
    } catch (err) {
      if (attempt < 3) continue;
      throw err;
    }
    const body = await response.text();
    if (!response.ok) throw new Error(`ClickHouse: ${body.trim()}`);
    return body.trim();
  }
}

const runId = randomBytes(3).toString('hex');
const base = `bench-events-${runId}-`;
const dbBase = `bench_events_${runId}`;
const databases = [];
console.log(`events bench ${runId}: ${events} events x ${repeats} repeats; topics ${base}*, databases ${dbBase}_*`);

async function createTopic(topic) {
  // A busy broker can answer the leader wait with UNKNOWN_TOPIC_OR_PARTITION (retriable) for a topic it has just
  // created; asking again is safe (createTopics returns false for a topic that exists).
  for (let attempt = 1; ; attempt++) {
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }], waitForLeaders: true });
      return;
    } catch (err) {
      if (!err.retriable || attempt >= 3) throw err;
      await sleep(1_000);
    }
  }
}

// 2. Contenders. Each returns { rate, seconds, ... } for one repeat.
async function produceTs(prefix) {
  await createTopic(`${prefix}select.samples.v1`);
  const result = lastJsonLine(run(process.execPath, [join(here, 'produce-ts.mjs'), prefix, String(events)]));
  return { rate: events / result.seconds, seconds: result.seconds, cpuSeconds: result.cpuSeconds, buildCpuSeconds: result.buildCpuSeconds };
}

async function produceJava(topic) {
  await createTopic(topic);
  const out = run('java', [
    '-cp', javaClasspath, 'org.apache.kafka.tools.ProducerPerformance',
    '--topic', topic, '--num-records', String(events), '--record-size', '200', '--throughput', '-1',
    '--producer-props', `bootstrap.servers=${brokers}`, 'acks=all', 'enable.idempotence=true',
  ]);
  const match = /(\d+) records sent, ([\d.]+) records\/sec/.exec(out);
  if (!match || Number(match[1]) !== events) throw new Error(`ProducerPerformance: ${out}`);
  return { rate: Number(match[2]), seconds: events / Number(match[2]) };
}

async function consumerPerformance(topic, group) {
  const out = run('java', [
    '-cp', javaClasspath, 'org.apache.kafka.tools.ConsumerPerformance',
    '--bootstrap-server', brokers, '--topic', topic, '--messages', String(events), '--group', group, '--timeout', '60000',
  ]);
  // start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
  const line = out.trim().split('\n').pop().split(',').map((s) => s.trim());
  const consumed = Number(line[4]);
  if (consumed < events) throw new Error(`ConsumerPerformance read ${consumed} of ${events}: ${out}`);
  return { rate: Number(line[9]), seconds: Number(line[7]) / 1000, rateWithRebalance: Number(line[5]), rebalanceMs: Number(line[6]), megabytes: Number(line[2]) };
}

/** Runs the sink on `prefix` into `database` until `events` rows are visible; the rate counts from the first visible row. */
async function landWithSink(prefix, database, group) {
  databases.push(database);
  const log = createWriteStream(join(cacheDir, `sink-${database}.log`));
  const child = spawn(process.execPath, [join(root, 'packages/metrics-sink/dist/main.js')], {
    cwd: root,
    env: { ...process.env, KAFKA_BROKERS: brokers, KAFKA_TOPIC_PREFIX: prefix, CLICKHOUSE_DATABASE: database, METRICS_SINK_GROUP_ID: group, METRICS_SINK_PORT: '0', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  // The clock starts when the sink has joined its group (as ConsumerPerformance's fetch time starts after its
  // rebalance): start-up, migrations and the join are left out. Only the samples topic holds events.
  let joined;
  let pendingText = '';
  child.stdout.on('data', (chunk) => {
    if (joined !== undefined) return;
    pendingText += chunk.toString('utf8');
    for (const line of pendingText.split('\n').slice(0, -1)) {
      if (line.includes('"joined consumer group"')) joined = performance.now();
    }
    pendingText = pendingText.slice(pendingText.lastIndexOf('\n') + 1);
  });
  const exited = new Promise((resolveExit) => child.on('exit', (code, signal) => resolveExit(code ?? signal)));
  let first;
  let last;
  let cpuSeconds;
  const spawned = performance.now();
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the sink exited early (${child.exitCode}); log: ${join(cacheDir, `sink-${database}.log`)}`);
      const count = Number(await chQuery(`SELECT count() FROM ${database}.samples`).catch(() => '0'));
      const now = performance.now();
      if (count > 0 && first === undefined) first = { at: now, count };
      if (count >= events) {
        last = { at: now, count };
        break;
      }
      if (now - spawned > 600_000) throw new Error(`the sink landed ${count} of ${events} rows in 10 minutes`);
      await sleep(100);
    }
  } finally {
    cpuSeconds = processCpuSeconds(child.pid);
    child.kill('SIGTERM');
    await exited;
  }
  const distinct = Number(await chQuery(`SELECT uniqExact(event_id) FROM ${database}.samples`));
  if (distinct !== events || last.count !== events) throw new Error(`the sink landed ${last.count} rows, ${distinct} distinct events, of ${events}`);
  if (joined === undefined) throw new Error('the sink never logged that it joined its group');
  const seconds = (last.at - joined) / 1000;
  return {
    rate: events / seconds,
    seconds,
    // rows landed after the first visible insert, over the time since it became visible
    rateAfterFirstRows: (events - first.count) / ((last.at - first.at) / 1000),
    firstRows: first.count,
    secondsFromSpawn: (last.at - spawned) / 1000,
    firstVisibleAfterSeconds: (first.at - spawned) / 1000,
    // the whole process: start-up (module loading, migrations, topic checks) included
    cpuSeconds,
  };
}

const dumpFile = join(cacheDir, `rows-${runId}.jsonl`);
const peerDatabase = `${dbBase}_peer`;
/** The sink's rows of repeat 0 become the peer's input, and its table definition the peer's table. */
async function preparePeer(database) {
  execFileSync('sh', ['-c', `clickhouse-client --query "SELECT * FROM ${database}.samples FORMAT JSONEachRow" > "${dumpFile}"`]);
  databases.push(peerDatabase);
  await chQuery(`CREATE DATABASE IF NOT EXISTS ${peerDatabase}`);
  await chQuery(`CREATE TABLE IF NOT EXISTS ${peerDatabase}.samples_template AS ${database}.samples`);
}
async function clickhouseClientInsert() {
  await chQuery(`DROP TABLE IF EXISTS ${peerDatabase}.samples`);
  await chQuery(`CREATE TABLE IF NOT EXISTS ${peerDatabase}.samples AS ${peerDatabase}.samples_template`);
  const started = performance.now();
  execFileSync('sh', ['-c', `clickhouse-client --query "INSERT INTO ${peerDatabase}.samples FORMAT JSONEachRow" < "${dumpFile}"`], { stdio: 'inherit' });
  const seconds = (performance.now() - started) / 1000;
  const count = Number(await chQuery(`SELECT count() FROM ${peerDatabase}.samples`));
  if (count !== events) throw new Error(`clickhouse-client inserted ${count} of ${events} rows`);
  await chQuery(`DROP TABLE IF EXISTS ${peerDatabase}.samples`);
  return { rate: events / seconds, seconds };
}

async function cleanup() {
  const topics = (await admin.listTopics()).filter((t) => t.startsWith(base));
  if (topics.length > 0) await admin.deleteTopics({ topics }).catch((err) => console.warn(`deleting topics: ${err.message}`));
  for (const database of databases) await chQuery(`DROP DATABASE IF EXISTS ${database}`).catch((err) => console.warn(`dropping ${database}: ${err.message}`));
  execFileSync('rm', ['-f', dumpFile]);
}

// 3. The run.
mkdirSync(cacheDir, { recursive: true });
const loadBefore = loadavg();
const uptimeBefore = uptime();
const runs = { producerTs: [], producerJava: [], sink: [], consumerPerformance: [], clickhouseClient: [] };
const paired = { producer: [], sink: [] };
let latency;
try {
  for (let r = 0; r < (args['latency-only'] ? 0 : repeats); r++) {
    const prefix = `${base}r${r}-`;
    const database = `${dbBase}_r${r}`;
    // Producing: alternate who goes first.
    const order = r % 2 === 0 ? ['ts', 'java'] : ['java', 'ts'];
    let ts;
    let java;
    for (const who of order) {
      if (who === 'ts') ts = await produceTs(prefix);
      else java = await produceJava(`${prefix}java-samples`);
    }
    runs.producerTs.push(ts);
    runs.producerJava.push(java);
    paired.producer.push(ts.rate / java.rate);
    console.log(`  repeat ${r + 1}: produce  @select/events ${ts.rate.toFixed(0)}/s, ProducerPerformance ${java.rate.toFixed(0)}/s -> ${(ts.rate / java.rate).toFixed(3)}x`);

    // Landing the events @select/events produced: the sink first in even repeats (it makes the row dump).
    const topic = `${prefix}select.samples.v1`;
    const landOrder = r % 2 === 0 || !existsSync(dumpFile) ? ['sink', 'cp', 'ch'] : ['ch', 'cp', 'sink'];
    let sink;
    let cp;
    let ch;
    for (const who of landOrder) {
      if (who === 'sink') {
        sink = await landWithSink(prefix, database, `bench-events-sink-${runId}-${r}`);
        if (!existsSync(dumpFile)) await preparePeer(database);
      } else if (who === 'cp') {
        cp = await consumerPerformance(topic, `bench-events-cp-${runId}-${r}`);
      } else {
        ch = await clickhouseClientInsert();
      }
    }
    runs.sink.push(sink);
    runs.consumerPerformance.push(cp);
    runs.clickhouseClient.push(ch);
    const slower = Math.min(cp.rate, ch.rate);
    paired.sink.push(sink.rate / slower);
    console.log(
      `  repeat ${r + 1}: land     sink ${sink.rate.toFixed(0)} rows/s, ConsumerPerformance ${cp.rate.toFixed(0)} msg/s, clickhouse-client ${ch.rate.toFixed(0)} rows/s -> ${(sink.rate / slower).toFixed(3)}x`,
    );
    await admin.deleteTopics({ topics: (await admin.listTopics()).filter((t) => t.startsWith(prefix)) }).catch(() => undefined);
  }

  if (!args['skip-latency']) {
    const prefix = `${base}lat-`;
    const database = `${dbBase}_lat`;
    latency = await measureLatency(prefix, database);
    console.log(`  latency at ${rate}/s: p50 ${latency.p50Ms} ms, p99 ${latency.p99Ms} ms (achieved ${latency.achievedRate.toFixed(0)}/s)`);
  }
} finally {
  await cleanup();
  await admin.disconnect();
}

async function measureLatency(prefix, database) {
  databases.push(database);
  await createTopic(`${prefix}select.samples.v1`);
  const log = createWriteStream(join(cacheDir, `sink-${database}.log`));
  const child = spawn(process.execPath, [join(root, 'packages/metrics-sink/dist/main.js')], {
    cwd: root,
    env: { ...process.env, KAFKA_BROKERS: brokers, KAFKA_TOPIC_PREFIX: prefix, CLICKHOUSE_DATABASE: database, METRICS_SINK_GROUP_ID: `bench-events-lat-${runId}`, METRICS_SINK_PORT: '0', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const exited = new Promise((resolveExit) => child.on('exit', (code, signal) => resolveExit(code ?? signal)));
  try {
    // Ready when the group is joined: the sink logs it once it has its partitions.
    const logFile = join(cacheDir, `sink-${database}.log`);
    const deadline = Date.now() + 120_000;
    while (!(existsSync(logFile) && /joined consumer group/.test(readFileSync(logFile, 'utf8')))) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the sink did not join its group; log: ${logFile}`);
      await sleep(200);
    }
    await sleep(1_000);
    const out = run(process.execPath, [join(here, 'latency.mjs'), prefix, database, String(rate), String(latencySeconds)]);
    return lastJsonLine(out);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

// 4. Report.
if (args['latency-only']) {
  const loadAfterLatency = loadavg();
  latency.met = latency.p99Ms < 2000;
  console.log(`latency at ${rate} events/s: p50 ${latency.p50Ms} ms, p99 ${latency.p99Ms} ms (achieved ${latency.achievedRate.toFixed(0)}/s; target p99 < 2000: ${latency.met ? 'met' : 'NOT met'})`);
  const out = {
    benchmark: 'events-latency',
    date: new Date().toISOString(),
    machine: {
      ...machineInfo(),
      kafka: brokerVersion,
      clickhouse: clickhouseVersion,
      loadAverage: { before: loadBefore.map((x) => Number(x.toFixed(2))), after: loadAfterLatency.map((x) => Number(x.toFixed(2))) },
      uptime: { before: uptimeBefore, after: uptime() },
    },
    settings: { rate, seconds: latencySeconds },
    latency,
  };
  writeResult(`${args.name}-latency`, out);
  process.exit(0);
}
const med = (list, key = 'rate') => median(list.map((x) => x[key]));
const summary = {
  producer: { selectEvents: med(runs.producerTs), producerPerformance: med(runs.producerJava), ratio: median(paired.producer), target: 0.5 },
  sink: {
    metricsSink: med(runs.sink),
    consumerPerformance: med(runs.consumerPerformance),
    clickhouseClient: med(runs.clickhouseClient),
    ratio: median(paired.sink),
    target: 0.25,
  },
};
summary.producer.met = summary.producer.ratio >= 0.5;
summary.sink.met = summary.sink.ratio >= 0.25;
const loadAfter = loadavg();
console.log(`\nevents: ${events} SampleCurated events (200-byte bodies), median of ${repeats}, paired ratios`);
console.log(`  produce   @select/events ${summary.producer.selectEvents.toFixed(0)} events/s, ProducerPerformance ${summary.producer.producerPerformance.toFixed(0)} records/s`);
console.log(`  ratio @select/events / ProducerPerformance: ${summary.producer.ratio.toFixed(3)}x (per repeat ${paired.producer.map((x) => x.toFixed(3)).join(', ')}; target >= 0.5: ${summary.producer.met ? 'met' : 'NOT met'})`);
console.log(
  `  land      metrics-sink ${summary.sink.metricsSink.toFixed(0)} rows/s, ConsumerPerformance ${summary.sink.consumerPerformance.toFixed(0)} msg/s, clickhouse-client ${summary.sink.clickhouseClient.toFixed(0)} rows/s`,
);
console.log(`  ratio sink / slower peer: ${summary.sink.ratio.toFixed(3)}x (per repeat ${paired.sink.map((x) => x.toFixed(3)).join(', ')}; target >= 0.25: ${summary.sink.met ? 'met' : 'NOT met'})`);
if (latency) {
  latency.met = latency.p99Ms < 2000;
  console.log(`  latency at ${rate} events/s: p50 ${latency.p50Ms} ms, p99 ${latency.p99Ms} ms (target p99 < 2000: ${latency.met ? 'met' : 'NOT met'})`);
}
console.log(`  load average (1, 5, 15 min): before ${loadBefore.map((x) => x.toFixed(2)).join(', ')}, after ${loadAfter.map((x) => x.toFixed(2)).join(', ')}`);

const result = {
  benchmark: 'events',
  date: new Date().toISOString(),
  machine: {
    ...machineInfo(),
    java: javaVersion.split('\n')[0],
    kafka: brokerVersion,
    clickhouse: clickhouseVersion,
    loadAverage: { before: loadBefore.map((x) => Number(x.toFixed(2))), after: loadAfter.map((x) => Number(x.toFixed(2))) },
    uptime: { before: uptimeBefore, after: uptime() },
  },
  settings: {
    events,
    repeats,
    recordBytes: 200,
    partitions: PARTITIONS,
    producer: 'acks=all, idempotent; @select/events defaults (linger 5 ms, batches of up to 5000 events / 900000 bytes, 1 request in flight); ProducerPerformance defaults otherwise (Kafka 4 client: linger.ms 5, batch.size 16384, 5 in flight)',
    sink: 'node packages/metrics-sink/dist/main.js with its defaults; rate from the sink joining its group (logged) to the last row visible (polled every 100 ms); ConsumerPerformance: fetch.nMsg.sec (rebalance excluded); clickhouse-client: wall time of one INSERT ... FORMAT JSONEachRow of the sink\'s rows',
    latency: { rate, seconds: latencySeconds },
  },
  summary,
  latency,
  pairedRatios: paired,
  runs,
};
writeResult(args.name, result);
