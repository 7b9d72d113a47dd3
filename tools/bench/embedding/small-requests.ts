// How long one EmbedImages request of a few dozen images takes on an idle service, with balanceBatches on (a due
// batch takes an even share of a short queue, so both inference workers run) and off (batches as full as the queue
// allows: 40 images run as 32 on one worker and 8 on the other). Two services in this process (client and server
// in it, as in bench.ts), the same settings but that one; for every request size and round the two run one after
// the other, in alternating order, and the ratio off / on of each pair is reported. Not a throughput contest
// (bench.ts is): a caller's wait for a small request is what it is for.
//
//   npx tsc -b packages/embedding-service/tsconfig.lib.json
//   npx tsx tools/bench/embedding/small-requests.ts [--sizes 8,24,40,64,96] [--rounds 5] [--name embedding-small-requests]
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultInferenceWorkers } from '@select/embedding-service';
import { BENCH_CACHE, benchJpegs, embedImagesStream, startBenchService } from './service-client.js';
// @ts-expect-error plain ESM module without types
import { machineInfo, median, resultName, uptime, wholeListOption, wholeOption, writeResult } from '../lib/bench-kit.mjs';

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '8,24,40,64,96' },
    rounds: { type: 'string', default: '5' },
    name: { type: 'string', default: 'embedding-small-requests' },
  },
});
const sizes: number[] = wholeListOption('sizes', args.sizes);
const rounds: number = wholeOption('rounds', args.rounds);
resultName(args.name);
const MODEL = 'clip-vit-b32';
const jpegs = benchJpegs();
const need = Math.max(...sizes);
if (jpegs.length < need) throw new Error(`${jpegs.length} JPEGs under ${BENCH_CACHE}/jpegs, ${need} needed: run tools/bench/embedding/prepare.py`);

const uptimeBefore = uptime();
const workers = defaultInferenceWorkers();
async function start(balance: boolean) {
  const { client, close } = await startBenchService(
    { modelsDir: join(BENCH_CACHE, 'models'), inferenceWorkers: workers, maxBatch: 32, streamWindow: 128, balanceBatches: balance },
    [{ key: 'balanceBatches', wanted: balance, without: false }],
  );
  return {
    close,
    /** Milliseconds one request of `k` images takes, from the images starting at `offset`. */
    async time(k: number, offset: number): Promise<number> {
      const items = Array.from({ length: k }, (_, i) => jpegs[(offset + i) % jpegs.length]!);
      const t0 = performance.now();
      await embedImagesStream(client, MODEL, items);
      return performance.now() - t0;
    },
  };
}
const services = { on: await start(true), off: await start(false) };
// warm both: sessions, preprocessing threads, gRPC connections
for (const s of Object.values(services)) {
  await s.time(64, 0);
  await s.time(8, 64);
}

const runs: Array<{ size: number; round: number; onMs: number; offMs: number }> = [];
let offset = 0;
for (let round = 0; round < rounds; round++) {
  for (const size of sizes) {
    // the same images for both, the order alternating with the round
    const order = (round + sizes.indexOf(size)) % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const);
    const ms: Record<string, number> = {};
    for (const which of order) ms[which] = await services[which].time(size, offset);
    offset += size;
    runs.push({ size, round, onMs: ms['on']!, offMs: ms['off']! });
    console.error(`[small-requests] round ${round + 1}/${rounds}, ${size} images: on ${ms['on']!.toFixed(0)} ms, off ${ms['off']!.toFixed(0)} ms, off/on ${(ms['off']! / ms['on']!).toFixed(3)}`);
  }
}
for (const s of Object.values(services)) await s.close();

const bySize = sizes.map((size) => {
  const mine = runs.filter((r) => r.size === size);
  const ratios = mine.map((r) => r.offMs / r.onMs);
  return {
    size,
    onMs: mine.map((r) => r.onMs),
    offMs: mine.map((r) => r.offMs),
    medianOnMs: median(mine.map((r) => r.onMs)),
    medianOffMs: median(mine.map((r) => r.offMs)),
    offVsOn: ratios,
    medianOffVsOn: median(ratios),
  };
});
for (const s of bySize) {
  console.log(`${String(s.size).padStart(4)} images: on ${s.medianOnMs.toFixed(0)} ms, off ${s.medianOffMs.toFixed(0)} ms; off/on ${s.offVsOn.map((r) => r.toFixed(3)).join(', ')} (median ${s.medianOffVsOn.toFixed(3)})`);
}
writeResult(args.name, {
  benchmark: 'embedding-small-requests',
  what: 'wall ms of one EmbedImages request of `size` JPEGs on an idle service, balanceBatches on and off, paired per size and round',
  command: `npx tsx tools/bench/embedding/small-requests.ts ${process.argv.slice(2).join(' ')}`.trim(),
  machine: machineInfo(),
  uptimeBefore,
  uptimeAfter: uptime(),
  settings: { inferenceWorkers: workers, maxBatch: 32, maxWaitMs: 5, streamWindow: 128, preprocessing: 'exact', rounds },
  bySize,
});
