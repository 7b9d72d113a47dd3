#!/usr/bin/env node
// TypeScript side of the datasets-read benchmark: @select/datasets reading WebDataset shards and fully
// decoding every image to an RGB pixel array with sharp, `concurrency` images at a time.
//   node read-ts.mjs '<dir>/{00000..00009}.tar' <concurrency>   -> prints one JSON line
import { decodeImages, readClassShards } from '@select/datasets';

const [pattern, concurrencyText = '4'] = process.argv.slice(2);
const start = performance.now();
let samples = 0;
let pixels = 0;
let errors = 0;
for await (const record of decodeImages(readClassShards({ shards: pattern }), { concurrency: Number(concurrencyText) })) {
  if (!record.ok) {
    errors++;
    continue;
  }
  const { pixels: decoded } = record.sample;
  if (decoded.data.length !== decoded.width * decoded.height * 3) throw new Error('not RGB');
  samples++;
  pixels += decoded.width * decoded.height;
}
console.log(JSON.stringify({ samples, pixels, seconds: (performance.now() - start) / 1000, errors }));
