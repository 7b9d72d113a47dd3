#!/usr/bin/env node
// What group commit saves ClickHouse: 200,000 samples rows (the events bench's events, as the sink maps them)
// inserted into a table made by the metrics sink's migrations, as the sink inserts them — per-partition batches of
// 5,000, six calls at a time
// — once as separate INSERTs and once with `coalesce: true` (@select/metrics), plus one 200,000-row INSERT for
// reference. Measured: the ClickHouse server's CPU seconds while the inserts run and in the 4 s after (its
// background merges of the parts), the wall time, and the active parts left. Contenders interleaved over repeats.
//
//   node tools/bench/events/insert-parts.mjs [--rows 200000] [--batch 5000] [--repeats 3] [--name events-insert-parts]
//
// Needs the local ClickHouse (`bash infra/infra.sh up`) and the built packages (`npx nx run-many -t build`).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { EVENT_TYPES } from '@select/events';
import { samplePayload } from './events.mjs';
import { ROOT, interleave, machineInfo, median, processCpuSeconds, resultName, uptime, wholeOption, writeResult } from '../lib/bench-kit.mjs';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '200000' },
    batch: { type: 'string', default: '5000' },
    repeats: { type: 'string', default: '3' },
    name: { type: 'string', default: 'events-insert-parts' },
  },
});
const rowsCount = wholeOption('rows', args.rows);
const batch = wholeOption('batch', args.batch);
const repeats = wholeOption('repeats', args.repeats);
resultName(args.name);
const IN_FLIGHT = 6; // select.samples.v1's partitions, each inserting its own batch
const MERGE_WINDOW_MS = 4_000;

const { createClickHouse, runMigrations, sql } = await import(`${ROOT}packages/metrics/dist/index.js`);
const { METRICS_SINK_MIGRATIONS, TABLE_COLUMNS } = await import(`${ROOT}packages/metrics-sink/dist/schema.js`);
const { eventToRow } = await import(`${ROOT}packages/metrics-sink/dist/event-rows.js`);
const serverPid = execFileSync('pgrep', ['-f', 'clickhouse.*server'], { encoding: 'utf8' }).trim().split('\n')[0];
const serverCpu = () => processCpuSeconds(serverPid);

// The events bench's own SampleCurated payloads, made into rows by the sink's own mapping.
const now = new Date();
const rows = Array.from({ length: rowsCount }, (_, i) => {
  const envelope = { id: `${randomBytes(8).toString('hex')}-${i}`, type: EVENT_TYPES.SampleCurated, schemaVersion: 1, time: now, source: 'events-bench', contentType: 'application/x-protobuf' };
  const event = { envelope, payload: samplePayload(i), topic: 'select.samples.v1', partition: i % IN_FLIGHT, offset: String(i), key: null };
  return eventToRow(event, now).row;
});
const columns = TABLE_COLUMNS.samples;
const runId = randomBytes(3).toString('hex');
let databaseNo = 0;

/** One landing of all rows into a fresh samples table: `mode` 'separate' | 'coalesced' | 'single'. */
async function land(mode) {
  databaseNo += 1;
  const database = `bench_insert_parts_${runId}_${databaseNo}`;
  const ch = createClickHouse({ database });
  try {
    await runMigrations(ch, METRICS_SINK_MIGRATIONS);
    await ch.prepareInsert('samples', columns);
    const size = mode === 'single' ? rowsCount : batch;
    const cpu0 = serverCpu();
    const started = performance.now();
    const inFlight = new Set();
    for (let at = 0; at < rowsCount; at += size) {
      const call = ch.insert('samples', rows.slice(at, at + size), columns, { format: 'RowBinary', coalesce: mode === 'coalesced' });
      inFlight.add(call);
      void call.finally(() => inFlight.delete(call));
      if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    const seconds = (performance.now() - started) / 1000;
    const cpu1 = serverCpu();
    await new Promise((resolve) => setTimeout(resolve, MERGE_WINDOW_MS));
    const cpu2 = serverCpu();
    const [{ n: parts }] = await ch.query(sql`SELECT count() AS n FROM system.parts WHERE database = ${database} AND table = 'samples' AND active`);
    const [{ n: count }] = await ch.query(sql`SELECT count() AS n FROM samples`);
    if (Number(count) !== rowsCount) throw new Error(`${mode}: ${count} of ${rowsCount} rows landed`);
    return { seconds, serverCpuSeconds: cpu1 - cpu0, serverCpuSecondsAfter: cpu2 - cpu1, activeParts: Number(parts) };
  } finally {
    await ch.command(sql`DROP DATABASE IF EXISTS ${sql.id(database)}`).catch(() => undefined);
    await ch.close();
  }
}

const uptimeBefore = uptime();
const runs = await interleave({ separate: () => land('separate'), coalesced: () => land('coalesced'), single: () => land('single') }, repeats);
const uptimeAfter = uptime();
const serverTotal = (r) => r.serverCpuSeconds + r.serverCpuSecondsAfter;
const ratioPerRepeat = runs.separate.map((r, i) => serverTotal(runs.coalesced[i]) / serverTotal(r));
const summary = Object.fromEntries(
  Object.entries(runs).map(([mode, list]) => [mode, { serverCpuSeconds: median(list.map(serverTotal)), seconds: median(list.map((r) => r.seconds)) }]),
);
console.log(`\ninsert-parts: ${rowsCount} samples rows, batches of ${batch}, ${IN_FLIGHT} calls at a time; ClickHouse CPU s (inserts + ${MERGE_WINDOW_MS / 1000} s after), medians of ${repeats}`);
for (const [mode, s] of Object.entries(summary)) console.log(`  ${mode.padEnd(10)} server CPU ${s.serverCpuSeconds.toFixed(2)} s, wall ${s.seconds.toFixed(2)} s`);
console.log(`  coalesced / separate server CPU, per repeat: ${ratioPerRepeat.map((x) => x.toFixed(3)).join(', ')} (median ${median(ratioPerRepeat).toFixed(3)})`);
console.log(`  uptime before: ${uptimeBefore}\n  uptime after:  ${uptimeAfter}`);
writeResult(args.name, {
  benchmark: 'events-insert-parts',
  date: new Date().toISOString(),
  command: `node tools/bench/events/insert-parts.mjs ${process.argv.slice(2).join(' ')}`.trim(),
  machine: { ...machineInfo(), clickhouse: execFileSync('clickhouse-client', ['--query', 'SELECT version()'], { encoding: 'utf8' }).trim() },
  uptimeBefore,
  uptimeAfter,
  settings: { rows: rowsCount, batch, inFlight: IN_FLIGHT, mergeWindowMs: MERGE_WINDOW_MS, format: 'RowBinary' },
  summary,
  coalescedVsSeparateServerCpu: { perRepeat: ratioPerRepeat, median: median(ratioPerRepeat) },
  runs,
});
