#!/usr/bin/env node
// CPU per decoded image by thread, for reading + decoding the datasets-read pool with decodeImages, in three
// process set-ups: the library alone, with @select/platform (gRPC, protobufjs) loaded beside it, and loaded
// with `node --single-threaded-gc`. Each run is a fresh process of tools/bench/datasets-read/threads.mjs
// (which reads /proc/self/task); the set-ups are interleaved over `--repeats` with their order rotating, and
// each figure is the median over repeats. The numbers behind the by-thread table of
// tools/bench/datasets-read/README.md.
//
//   node tools/bench/datasets-decode/threads.mjs [--shards 5] [--concurrency 16] [--repeats 3] [--name datasets-decode-threads]
//
// The pool is the one tools/bench/datasets-read/run.mjs generates (1,000 images per shard); @select/datasets
// must be built (its dist and the libjpeg-turbo addon).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, interleave, machineInfo, median, resultName, runCommand, uptime, wholeOption, writeResult } from '../lib/bench-kit.mjs';

const { values: args } = parseArgs({
  options: {
    shards: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '16' },
    repeats: { type: 'string', default: '3' },
    name: { type: 'string', default: 'datasets-decode-threads' },
  },
});
const poolDir = join(ROOT, 'tools/bench/.cache/datasets-read/pool-10000x400x300-q90-v1');
if (!existsSync(join(poolDir, '00000.tar'))) throw new Error(`${poolDir} is missing: run node tools/bench/datasets-read/run.mjs once to generate it`);
const shards = wholeOption('shards', args.shards);
const concurrency = wholeOption('concurrency', args.concurrency);
const repeats = wholeOption('repeats', args.repeats);
resultName(args.name);
const pattern = join(poolDir, `{00000..${String(shards - 1).padStart(5, '0')}}.tar`);
const script = join(ROOT, 'tools/bench/datasets-read/threads.mjs');

// threads.mjs prints `<tid> <name> <µs> µs/image` per thread that used at least 1 µs per image, in creation
// (tid) order, and `<n> images, <µs> µs CPU per image in all`. Node 20 names none of its threads, so they are
// told apart by that order: the main thread first, V8's platform workers (made at start-up), and last libuv's
// pool (UV_THREADPOOL_SIZE threads, made on first use, all busy decoding).
const poolSize = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
function byThreadGroup(stdout) {
  const lines = stdout.trim().split('\n');
  const groups = { main: 0, v8Workers: 0, libuvPool: 0 };
  const threads = lines.slice(0, -1);
  threads.forEach((line, i) => {
    const match = /^\s*\d+ .+?\s+(\d+) µs\/image$/.exec(line);
    if (!match) throw new Error(`threads.mjs printed an unexpected line: ${line}`);
    const group = i === 0 ? 'main' : i >= threads.length - poolSize ? 'libuvPool' : 'v8Workers';
    groups[group] += Number(match[1]);
  });
  const total = /^(\d+) images, (\d+) µs CPU per image in all$/.exec(lines.at(-1));
  if (!total) throw new Error(`threads.mjs printed an unexpected last line: ${lines.at(-1)}`);
  return { images: Number(total[1]), wholeProcess: Number(total[2]), ...groups };
}

const setups = {
  default: [script, pattern, String(concurrency)],
  withPlatform: [script, pattern, String(concurrency), 'with-platform'],
  withPlatformSingleThreadedGc: ['--single-threaded-gc', script, pattern, String(concurrency), 'with-platform'],
};
const uptimeBefore = uptime();
const contenders = Object.fromEntries(
  Object.entries(setups).map(([name, nodeArgs]) => [
    name,
    async () => {
      const started = performance.now();
      const out = byThreadGroup(runCommand(process.execPath, nodeArgs));
      return { ...out, seconds: (performance.now() - started) / 1000 };
    },
  ]),
);
const runs = await interleave(contenders, repeats);
const summary = Object.fromEntries(
  Object.entries(runs).map(([name, list]) => [
    name,
    Object.fromEntries(['main', 'v8Workers', 'libuvPool', 'wholeProcess'].map((key) => [key, median(list.map((r) => r[key]))])),
  ]),
);
for (const [name, row] of Object.entries(summary)) console.error(`${name.padEnd(30)} ${Object.entries(row).map(([k, v]) => `${k} ${v} µs`).join(', ')}`);
writeResult(args.name, {
  benchmark: 'datasets-decode-threads',
  date: new Date().toISOString(),
  command: `node tools/bench/datasets-decode/threads.mjs ${process.argv.slice(2).join(' ')}`.trim(),
  machine: machineInfo(),
  uptime: { before: uptimeBefore, after: uptime() },
  settings: { images: shards * 1000, concurrency, repeats, pool: poolDir.replace(ROOT, '') },
  notes: ['CPU microseconds per decoded image by thread group (utime + stime from /proc/self/task at the end of the run, 10 ms ticks), medians over repeats; threads under 1 µs per image are not listed by threads.mjs; groups by creation order: main, V8 platform workers (and any other start-up thread), the last UV_THREADPOOL_SIZE threads = libuv pool'],
  summaryMicrosPerImage: summary,
  runs,
});
