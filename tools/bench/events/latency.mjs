#!/usr/bin/env node
// Produce-to-visible latency of the metrics sink: publishes SampleCurated events through @select/events at a
// steady `rate` per second for `seconds` onto <prefix>select.samples.v1 (a running sink consumes it into
// <database>.samples) while polling ClickHouse every POLL_MS for the highest offset visible per partition.
// An event is visible at the first poll answer that shows its partition's offset at or past its own; its
// latency is that answer's arrival minus the moment publish() was called. Events of the first `warmup`
// seconds are left out. Prints one JSON line: { events, measured, achievedRate, p50Ms, p90Ms, p99Ms, maxMs, ... }.
//
//   node tools/bench/events/latency.mjs <prefix> <database> [rate=20000] [seconds=30] [warmup=2]
import { createEventProducer, EVENT_TYPES } from '@select/events';
import { samplePayload } from './events.mjs';

const POLL_MS = 50;
const TICK_MS = 10;
const [prefix, database, rateText = '20000', secondsText = '30', warmupText = '2'] = process.argv.slice(2);
const rate = Number(rateText);
const seconds = Number(secondsText);
const warmup = Number(warmupText);
const total = Math.round(rate * seconds);
const clickhouseUrl = (process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:8123').replace(/\/$/, '');

async function query(text) {
  for (let attempt = 1; ; attempt++) {
    let response;
    try {
      response = await fetch(`${clickhouseUrl}/?database=${encodeURIComponent(database)}`, { method: 'POST', body: `${text} FORMAT TSV` });
    } catch (err) {
      // ClickHouse closes idle keep-alive connections; the (read-only) query is sent again.
      if (attempt < 3) continue;
      throw err;
    }
    const body = await response.text();
    if (!response.ok) throw new Error(`ClickHouse: ${body}`);
    return body.split('\n').filter(Boolean).map((line) => line.split('\t'));
  }
}

const producer = createEventProducer({ clientId: 'events-bench-latency', source: 'events-bench', topicPrefix: prefix, createTopics: false });
await producer.connect();

// Poller: per partition, the times (ms since the epoch) and the highest offset visible.
const polls = new Map();
let polling = true;
const poller = (async () => {
  while (polling) {
    const next = Date.now() + POLL_MS;
    const rows = await query('SELECT kafka_partition, max(kafka_offset) FROM samples GROUP BY kafka_partition');
    const at = Date.now();
    for (const [partition, offset] of rows) {
      const list = polls.get(Number(partition)) ?? [];
      list.push([at, Number(offset)]);
      polls.set(Number(partition), list);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - Date.now())));
  }
})();

// Steady load: every TICK_MS, publish the events whose scheduled time has come.
const publishedAt = new Float64Array(total);
let acked = 0;
let failed = 0;
const started = Date.now();
let sent = 0;
while (sent < total) {
  const due = Math.min(total, Math.floor(((Date.now() - started) / 1000) * rate));
  for (; sent < due; sent++) {
    publishedAt[sent] = Date.now();
    producer.publish('samples', EVENT_TYPES.SampleCurated, samplePayload(sent)).then(
      () => (acked += 1),
      () => (failed += 1),
    );
  }
  await new Promise((resolve) => setTimeout(resolve, TICK_MS));
}
await producer.flush();
while (acked + failed < total) await new Promise((resolve) => setTimeout(resolve, 10));
const publishSeconds = (Date.now() - started) / 1000;
await producer.disconnect();
if (failed > 0) throw new Error(`${failed} publishes failed`);

// Wait until every event is visible (or 60 s), then stop polling.
const deadline = Date.now() + 60_000;
for (;;) {
  const [[count]] = await query('SELECT count() FROM samples');
  if (Number(count) >= total || Date.now() > deadline) break;
  await new Promise((resolve) => setTimeout(resolve, 100));
}
await new Promise((resolve) => setTimeout(resolve, 2 * POLL_MS));
polling = false;
await poller;

// Where each event landed: sample ids carry the sequence number.
const landed = await query("SELECT toUInt64(substring(sample_id, 3)) AS seq, kafka_partition, kafka_offset FROM samples WHERE sample_id LIKE 's-%'");
const latencies = [];
const seen = new Set();
for (const [seqText, partitionText, offsetText] of landed) {
  const seq = Number(seqText);
  if (seen.has(seq) || seq >= total) continue;
  seen.add(seq);
  if (publishedAt[seq] - started < warmup * 1000) continue;
  const list = polls.get(Number(partitionText)) ?? [];
  const offset = Number(offsetText);
  // first poll answer showing this offset (binary search: offsets only grow)
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid][1] >= offset) hi = mid;
    else lo = mid + 1;
  }
  if (lo < list.length) latencies.push(list[lo][0] - publishedAt[seq]);
}
latencies.sort((a, b) => a - b);
const pct = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
console.log(
  JSON.stringify({
    events: total,
    landed: seen.size,
    measured: latencies.length,
    targetRate: rate,
    achievedRate: total / publishSeconds,
    warmupSeconds: warmup,
    pollMs: POLL_MS,
    p50Ms: pct(0.5),
    p90Ms: pct(0.9),
    p99Ms: pct(0.99),
    maxMs: latencies[latencies.length - 1],
  }),
);
