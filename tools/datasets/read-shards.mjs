#!/usr/bin/env node
// Reads WebDataset shards (e.g. the ones check_webdataset.py --write-python-shards writes) with
// @select/datasets' image-text reader and decodes every image; prints what it found.
//   node tools/datasets/read-shards.mjs '<dir>/{00000..00001}.tar'
import { decodeImages, readCaptionedShards } from '@select/datasets';

const [pattern] = process.argv.slice(2);
if (pattern === undefined) {
  console.error("usage: read-shards.mjs '<dir>/{00000..00001}.tar'");
  process.exit(2);
}
let samples = 0;
let errors = 0;
for await (const record of decodeImages(readCaptionedShards({ shards: pattern }))) {
  if (record.ok) {
    samples++;
    const { key, caption, pixels, metadata } = record.sample;
    console.log(`${key}\t${pixels.width}x${pixels.height}\t${JSON.stringify(caption)}\t${JSON.stringify(metadata)}\tcursor=${JSON.stringify(record.cursor)}`);
  } else {
    errors++;
    console.log(`ERROR ${record.error.code}: ${record.error.message}`);
  }
}
console.log(`${samples} samples, ${errors} errors`);
