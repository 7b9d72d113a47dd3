// Where the embedding service's CPU goes besides inference, and how often V8 collects the main heap: the service
// (client and server in one process, as in bench.ts) embeds the bench's JPEGs in one EmbedImages stream, in a child
// process started with --trace-gc, once with recycleBuffers on and once off, alternating over rounds. Per run: the
// main isolate's mark-compacts and scavenges during the stream, and CPU ms per image of every thread of the process
// (/proc/self/task: the two inference workers, the preprocessing threads, the main thread, V8's platform threads,
// which do concurrent marking). Not a throughput contest (bench.ts is): the counts are what it is for.
//
//   npx tsc -b packages/embedding-service/tsconfig.lib.json
//   npx tsx tools/bench/embedding/gc-profile.ts [--images 640] [--rounds 2] [--name embedding-gc]
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultInferenceWorkers } from '@select/embedding-service';
import { BENCH_CACHE, benchJpegs, embedImagesStream, startBenchService } from './service-client.js';
// @ts-expect-error plain ESM module without types
import { ROOT, machineInfo, median, resultName, uptime, wholeOption, writeResult } from '../lib/bench-kit.mjs';

const { values: args } = parseArgs({
  options: {
    images: { type: 'string', default: '640' },
    rounds: { type: 'string', default: '2' },
    name: { type: 'string', default: 'embedding-gc' },
    child: { type: 'string' },
  },
});
const n: number = wholeOption('images', args.images);
const rounds: number = wholeOption('rounds', args.rounds);
resultName(args.name);
const MODEL = 'clip-vit-b32';

/** CPU ms of every thread of this process, by thread id, with its name and whether it is the main thread. */
function threadCpu(): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(tid, (Number(f[11]) + Number(f[12])) * 10); // utime + stime, in 10 ms clock ticks
    } catch {
      // the thread ended
    }
  }
  return out;
}

async function child(recycle: boolean): Promise<void> {
  const jpegs = benchJpegs(n);
  const { running, client, close } = await startBenchService(
    { modelsDir: join(BENCH_CACHE, 'models'), inferenceWorkers: defaultInferenceWorkers(), maxBatch: 32, streamWindow: 128, recycleBuffers: recycle },
    [{ key: 'recycleBuffers', wanted: recycle, without: false }],
  );
  const stream = (items: Buffer[]) => embedImagesStream(client, MODEL, items);
  await stream(jpegs.slice(0, 32));
  // a forced collection names the main isolate in the trace ("testing"), then the timed stream
  (globalThis as { gc?: () => void }).gc!();
  console.log('GC-PROFILE-START');
  const before = threadCpu();
  const t0 = performance.now();
  await stream(jpegs);
  const seconds = (performance.now() - t0) / 1000;
  const after = threadCpu();
  console.log('GC-PROFILE-END');
  const threads = [...after]
    .map(([tid, ms]) => ({ main: Number(tid) === process.pid, msPerImage: (ms - (before.get(tid) ?? 0)) / n }))
    .filter((t) => t.msPerImage > 0)
    .sort((a, b) => b.msPerImage - a.msPerImage);
  const { inferenceWorkers, preprocessThreads } = running.engine.threads;
  const main = threads.find((t) => t.main)?.msPerImage ?? 0;
  const others = threads.filter((t) => !t.main);
  // the busiest threads are the inference workers, then the preprocessing threads; the rest are V8's and libuv's
  const inference = others.slice(0, inferenceWorkers).reduce((s, t) => s + t.msPerImage, 0);
  const preprocess = others.slice(inferenceWorkers, inferenceWorkers + preprocessThreads).reduce((s, t) => s + t.msPerImage, 0);
  const rest = others.slice(inferenceWorkers + preprocessThreads).reduce((s, t) => s + t.msPerImage, 0);
  console.log(JSON.stringify({ recycle, seconds, imagesPerSecond: n / seconds, cpuMsPerImage: { inference, preprocess, main, otherThreads: rest, total: inference + preprocess + main + rest } }));
  await close();
}

if (args.child) {
  await child(args.child === 'on');
} else {
  const uptimeBefore: string = uptime();
  const runs: Array<Record<string, unknown>> = [];
  for (let r = 0; r < rounds; r++) {
    for (const mode of r % 2 === 0 ? ['on', 'off'] : ['off', 'on']) {
      const res = spawnSync(process.execPath, ['--trace-gc', '--expose-gc', '--import', 'tsx', join(ROOT, 'tools/bench/embedding/gc-profile.ts'), '--child', mode, '--images', String(n)], {
        cwd: ROOT,
        encoding: 'utf8',
        maxBuffer: 256 << 20,
      });
      if (res.status !== 0) throw new Error(`gc-profile child (${mode}) failed:\n${res.stderr}\n${res.stdout.slice(-2000)}`);
      const lines = res.stdout.split('\n');
      const start = lines.indexOf('GC-PROFILE-START');
      const end = lines.indexOf('GC-PROFILE-END');
      // the main isolate is the one whose collection just before START was the forced one
      const forced = lines.slice(0, start).reverse().find((l) => l.includes('testing'));
      const isolate = forced?.match(/^\[\d+:0x[0-9a-f]+\]/)?.[0];
      if (!isolate) throw new Error('no forced collection before the timed stream in the trace');
      const during = lines.slice(start + 1, end);
      const main = during.filter((l) => l.startsWith(isolate));
      const result = JSON.parse(lines.find((l) => l.startsWith('{"recycle"'))!) as Record<string, unknown>;
      const run = {
        ...result,
        mainIsolate: { markCompacts: main.filter((l) => l.includes('Mark-Compact')).length, scavenges: main.filter((l) => l.includes('Scavenge')).length },
        workerIsolatesMarkCompacts: during.filter((l) => l.startsWith('[') && !l.startsWith(isolate) && l.includes('Mark-Compact')).length,
      };
      console.error(`[gc-profile] round ${r + 1} recycle ${mode}: ${JSON.stringify(run)}`);
      runs.push(run);
    }
  }
  const summary = (recycle: boolean) => {
    const rs = runs.filter((r) => r.recycle === recycle) as Array<{ mainIsolate: { markCompacts: number; scavenges: number }; cpuMsPerImage: Record<string, number> }>;
    return {
      mainMarkCompacts: median(rs.map((r) => r.mainIsolate.markCompacts)),
      mainScavenges: median(rs.map((r) => r.mainIsolate.scavenges)),
      cpuMsPerImage: Object.fromEntries(Object.keys(rs[0]!.cpuMsPerImage).map((k) => [k, median(rs.map((r) => r.cpuMsPerImage[k]!))])),
    };
  };
  const result = { machine: machineInfo(), uptimeBefore, uptimeAfter: uptime(), images: n, rounds, runs, medians: { recycleOn: summary(true), recycleOff: summary(false) } };
  console.log(JSON.stringify(result.medians, null, 2));
  writeResult(args.name, result);
}
