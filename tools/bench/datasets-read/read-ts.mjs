#!/usr/bin/env node
// TypeScript side of the datasets-read benchmark: @select/datasets reading WebDataset shards and fully
// decoding every image to an RGB pixel array, `concurrency` images at a time, with the default decoder
// (libjpeg-turbo through the package's addon) or with `sharp` (every image through sharp/libvips, the
// decoder before).
//   node read-ts.mjs '<dir>/{00000..00009}.tar' <concurrency> [auto|sharp] [with-platform]   -> prints
//   one JSON line (samples, pixels, seconds, cpuSeconds, errors, decoder, heapMB)
// `with-platform` first imports @select/platform (gRPC, protobufjs), as a service process would have it
// loaded: a larger heap makes every garbage collection dearer, and decoded pixels trigger many.
import { decodeImages, jpegDecoder, readClassShards } from '@select/datasets';

const [pattern, concurrencyText = '16', decoder = 'auto', extra = ''] = process.argv.slice(2);
if (extra === 'with-platform') await import('@select/platform');
const start = performance.now();
const cpuStart = process.cpuUsage();
let samples = 0;
let pixels = 0;
let errors = 0;
for await (const record of decodeImages(readClassShards({ shards: pattern }), { concurrency: Number(concurrencyText), decoder })) {
  if (!record.ok) {
    errors++;
    continue;
  }
  const { pixels: decoded } = record.sample;
  if (decoded.data.length !== decoded.width * decoded.height * 3) throw new Error('not RGB');
  samples++;
  pixels += decoded.width * decoded.height;
}
const seconds = (performance.now() - start) / 1000;
// CPU time of every thread of the process (both decoders run on libuv's pool): unlike wall time it barely
// moves when other jobs share the machine.
const cpu = process.cpuUsage(cpuStart);
const used = decoder === 'sharp' ? 'sharp' : jpegDecoder();
console.log(JSON.stringify({ samples, pixels, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, errors, decoder: used, heapMB: Number((process.memoryUsage().heapUsed / 1e6).toFixed(1)) }));
