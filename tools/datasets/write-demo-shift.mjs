#!/usr/bin/env node
// Writes a small shift with @select/datasets' ShiftWriter for check_webdataset.py to read back, with a
// suspend() and resume halfway: openclipart SVGs (Debian openclipart-svg) rendered to PNG and
// re-encoded to JPEG when the collection is installed, labelled by their top-level folder; synthetic
// JPEGs otherwise.
//   npx tsc -b packages/datasets/tsconfig.lib.json
//   node tools/datasets/write-demo-shift.mjs <out-dir> [samples=300] [per-shard=64]
import { existsSync } from 'node:fs';
import sharp from 'sharp';
import { OPENCLIPART_ROOT, readOpenClipart, renderSvg, ShiftWriter } from '@select/datasets';

const [out, samplesText = '300', perShardText = '64'] = process.argv.slice(2);
if (out === undefined) {
  console.error('usage: write-demo-shift.mjs <out-dir> [samples] [per-shard]');
  process.exit(2);
}
const samples = Number(samplesText);

// Every 20th SVG, so the demo spans the collection's folders; only those are rendered.
async function* clipart() {
  let seen = 0;
  for await (const record of readOpenClipart({ render: false })) {
    if (!record.ok || seen++ % 20 !== 0) continue;
    const image = await renderSvg(record.sample.svg, 128).catch(() => undefined);
    if (image !== undefined) yield { sourceId: record.sample.sourceId, label: record.sample.category, image, caption: record.sample.caption };
  }
}

async function* synthetic() {
  for (let i = 0; ; i++) {
    const pixels = Buffer.alloc(64 * 48 * 3, (i * 37) % 256);
    const image = await sharp(pixels, { raw: { width: 64, height: 48, channels: 3 } }).jpeg().toBuffer();
    yield { sourceId: `synthetic/${i}`, label: `class${i % 7}`, image, caption: `synthetic ${i}` };
  }
}

const source = existsSync(OPENCLIPART_ROOT) ? clipart() : synthetic();
const picked = [];
for await (const item of source) {
  picked.push(item);
  if (picked.length === samples) break;
}
const classes = [...new Set(picked.map((item) => item.label))].sort();
const options = {
  name: 'demo-openclipart',
  strategy: 'demo',
  params: { source: existsSync(OPENCLIPART_ROOT) ? 'openclipart' : 'synthetic' },
  classes,
  maxSamplesPerShard: Number(perShardText),
};
// Written the way a paused job writes: the first half, suspend() with a shard left open, then a new
// writer that continues it. The result must read back like a shift written in one go.
const half = Math.floor(picked.length / 2);
let writer = await ShiftWriter.open(out, options);
for (const [i, item] of picked.entries()) {
  if (i === half) {
    const suspended = await writer.suspend();
    console.log(`suspended after ${i} samples: ${suspended.counts.samples} committed, ${suspended.open_shard?.samples ?? 0} in open shard ${suspended.open_shard?.name ?? '-'}`);
    writer = await ShiftWriter.open(out, options);
  }
  await writer.add({ sourceId: item.sourceId, wnid: item.label, image: item.image, score: i / picked.length, extra: { caption: item.caption } });
}
const summary = await writer.close();
console.log(`wrote ${summary.counts.samples} samples, ${summary.counts.classes} classes, ${summary.counts.shards} shards to ${out}`);
