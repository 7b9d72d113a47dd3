#!/usr/bin/env node
// CPU time per decoded image by thread (from /proc/self/task), for reading + decoding a pool with
// decodeImages: the main thread (tar reading, N-API calls, the main-thread part of garbage collection),
// V8's platform workers (concurrent marking and sweeping) and libuv's pool (the JPEG decoding). Linux only.
//   node tools/bench/datasets-read/threads.mjs '<dir>/{00000..00004}.tar' [concurrency] [with-platform]
// Threads are listed in creation order: main, then V8's workers, then libuv's pool.
import { readdirSync, readFileSync } from 'node:fs';
import { decodeImages, readClassShards } from '@select/datasets';

const [pattern, concurrency = '16', extra = ''] = process.argv.slice(2);
if (extra === 'with-platform') await import('@select/platform');
let n = 0;
for await (const record of decodeImages(readClassShards({ shards: pattern }), { concurrency: Number(concurrency) })) if (record.ok) n++;
let total = 0;
for (const tid of readdirSync('/proc/self/task')) {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime + stime in clock ticks (100 per second) -> µs per image
  const micros = ((Number(fields[11]) + Number(fields[12])) * 10_000) / n;
  total += micros;
  if (micros >= 1) console.log(`${tid.padStart(8)} ${name.padEnd(16)} ${micros.toFixed(0).padStart(5)} µs/image`);
}
console.log(`${n} images, ${total.toFixed(0)} µs CPU per image in all`);
