#!/usr/bin/env node
// Counts the openclipart SVGs (Debian openclipart-svg) that @select/datasets' renderSvg renders to one flat colour:
// every pixel of every colour channel the same, i.e. nothing of the drawing on the page (readOpenClipart and the
// curator refuse those through renderClipart). Prints one JSON line: SVGs
// read, flat renders, records that failed by error code (SVG_INVALID, MISSING_CAPTION), and the first flat ones.
//   npx tsc -b packages/datasets/tsconfig.lib.json
//   node tools/datasets/flat-renders.mjs [size=256]
import { isOneFlatColour, readOpenClipart, renderSvg } from '@select/datasets';

const size = Number(process.argv[2] ?? '256');
if (!Number.isInteger(size) || size < 1) {
  console.error(`size must be a whole number of pixels, got ${process.argv[2]}`);
  process.exit(2);
}
let read = 0;
let flat = 0;
const failed = {};
const examples = [];
for await (const record of readOpenClipart({ render: false })) {
  if (!record.ok) {
    failed[record.error.code] = (failed[record.error.code] ?? 0) + 1;
    continue;
  }
  let png;
  try {
    png = await renderSvg(record.sample.svg, size);
  } catch {
    failed.SVG_INVALID = (failed.SVG_INVALID ?? 0) + 1;
    continue;
  }
  read++;
  if (await isOneFlatColour(png)) {
    flat++;
    if (examples.length < 10) examples.push(record.sample.sourceId);
  }
  if (read % 1000 === 0) console.error(`${read} rendered, ${flat} flat`);
}
console.log(JSON.stringify({ size, read, flat, failed, examples }));
