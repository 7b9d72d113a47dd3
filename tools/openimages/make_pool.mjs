#!/usr/bin/env node
// Writes a small pool in OpenImages' official file formats (V6/V7 layout), for the curator's schema-
// mapping strategy (OI1000) when the real OpenImages is not at hand:
//   oidv7-class-descriptions.csv                       LabelName,DisplayName
//   bbox_labels_600_hierarchy.json                      {"LabelName": ..., "Subcategory": [...]}
//   oidv7-train-annotations-human-imagelabels.csv       ImageID,Source,LabelName,Confidence (verification; 0 = verified absent)
//   oidv7-train-annotations-machine-imagelabels.csv     ImageID,Source,LabelName,Confidence (machine, 0.3-0.95)
//   train/<ImageID>.jpg                                 16-hex-digit image ids, 64x64 JPEGs
// The display names are real OpenImages class names chosen to exercise every mapping rule; the MIDs are
// placeholders in the MID format (/m/0sel..), not OpenImages' own. Deterministic for a seed.
//
//   node tools/openimages/make_pool.mjs --out .work/pools/openimages-demo [--images 300] [--seed 7] [--no-bad]
// --no-bad leaves out the two deliberately bad images (a malformed label row, a missing JPEG).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    images: { type: 'string', default: '300' },
    seed: { type: 'string', default: '7' },
    'no-bad': { type: 'boolean', default: false },
  },
});
if (!values.out) {
  console.error('usage: make_pool.mjs --out DIR [--images N] [--seed S] [--no-bad]');
  process.exit(2);
}
const count = Number(values.images);
if (!Number.isInteger(count) || count < 1 || count > 1_000_000) {
  console.error('--images must be a whole number in 1..1000000');
  process.exit(2);
}

// [display name, group] — groups become the hierarchy's second level.
const LABELS = [
  ['Goldfish', 'Animal'], ['Fancy goldfish', 'Animal'], ['Jellyfish', 'Animal'], ['Starfish', 'Animal'], ['Ladybug', 'Animal'],
  ['Zebra', 'Animal'], ['Koala', 'Animal'], ['Lion', 'Animal'], ['Lion cub', 'Animal'], ['Jaguar (Animal)', 'Animal'],
  ['Penguin', 'Animal'], ['Owl', 'Animal'], ['Kangaroo', 'Animal'], ['Panda', 'Animal'], ['Red panda', 'Animal'],
  ['Dog', 'Animal'], ['Cat', 'Animal'], ['Shark', 'Animal'], ['Tortoise', 'Animal'], ['Granny Smith', 'Food'],
  ['Banana', 'Food'], ['Strawberry', 'Food'], ['Pizza', 'Food'], ['Hot dog', 'Food'], ['Hamburger', 'Food'],
  ['Bagel', 'Food'], ['Wine', 'Food'], ['Coffee cup', 'Food'], ['Tennis ball', 'Sports equipment'], ['Golf ball', 'Sports equipment'],
  ['Ambulance', 'Vehicle'], ['Limousine', 'Vehicle'], ['Taxi', 'Vehicle'], ['Canoe', 'Vehicle'], ['Car', 'Vehicle'],
  ['Crane', 'Vehicle'], ['Umbrella', 'Clothing'], ['Sunglasses', 'Clothing'], ['Person', 'Person'], ['Tree', 'Plant'],
];
const GROUPS = ['Animal', 'Food', 'Sports equipment', 'Vehicle', 'Clothing', 'Person', 'Plant'];
const mid = (i) => `/m/0sel${String(i).padStart(2, '0')}`;
const groupMid = (g) => `/m/0grp${GROUPS.indexOf(g)}`;

let state = Number(values.seed) >>> 0 || 1;
const random = () => {
  // mulberry32
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = (n) => Math.floor(random() * n);

const out = values.out;
mkdirSync(join(out, 'train'), { recursive: true });

const descriptions = ['LabelName,DisplayName'];
LABELS.forEach(([name], i) => descriptions.push(`${mid(i)},${name.includes(',') ? `"${name}"` : name}`));
GROUPS.forEach((g) => descriptions.push(`${groupMid(g)},${g}`));
descriptions.push('/m/0bl9f,Entity');
writeFileSync(join(out, 'oidv7-class-descriptions.csv'), `${descriptions.join('\n')}\n`);

const child = (name) => LABELS.findIndex(([n]) => n === name);
const hierarchy = {
  LabelName: '/m/0bl9f',
  Subcategory: GROUPS.map((g) => ({
    LabelName: groupMid(g),
    Subcategory: LABELS.map(([name, group], i) => ({ name, group, i }))
      .filter((l) => l.group === g && l.name !== 'Fancy goldfish' && l.name !== 'Lion cub')
      .map((l) => {
        const node = { LabelName: mid(l.i) };
        if (l.name === 'Goldfish') node.Subcategory = [{ LabelName: mid(child('Fancy goldfish')) }];
        if (l.name === 'Lion') node.Subcategory = [{ LabelName: mid(child('Lion cub')) }];
        return node;
      }),
  })),
};
writeFileSync(join(out, 'bbox_labels_600_hierarchy.json'), `${JSON.stringify(hierarchy, null, 1)}\n`);

const human = ['ImageID,Source,LabelName,Confidence'];
const machine = ['ImageID,Source,LabelName,Confidence'];
const ids = [];
const used = new Set();
while (ids.length < count) {
  const id = Array.from({ length: 16 }, () => '0123456789abcdef'[pick(16)]).join('');
  if (!used.has(id)) {
    used.add(id);
    ids.push(id);
  }
}
ids.sort();
const bad = values['no-bad'] ? new Set() : new Set([ids[Math.floor(count / 3)], ids[Math.floor((2 * count) / 3)]]);
let written = 0;
for (const [n, id] of ids.entries()) {
  const labels = new Set([pick(LABELS.length)]);
  if (random() < 0.3) labels.add(pick(LABELS.length));
  for (const l of [...labels].sort((a, b) => a - b)) human.push(`${id},verification,${mid(l)},1`);
  const absent = pick(LABELS.length);
  if (random() < 0.2 && !labels.has(absent)) human.push(`${id},verification,${mid(absent)},0`);
  const machineCount = pick(3);
  for (let k = 0; k < machineCount; k++) machine.push(`${id},machine,${mid(pick(LABELS.length))},${(0.3 + random() * 0.65).toFixed(2)}`);
  if (bad.has(id) && n === Math.floor(count / 3)) {
    human.push(`${id},verification,${mid(0)},`); // malformed: no confidence
  }
  if (bad.has(id) && n === Math.floor((2 * count) / 3)) continue; // no JPEG for this one
  const [r, g, b] = [pick(256), pick(256), pick(256)];
  const jpeg = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r, g, b } } })
    .composite([{ input: Buffer.from(`<svg width="64" height="64"><circle cx="${16 + pick(32)}" cy="${16 + pick(32)}" r="${6 + pick(10)}" fill="white"/></svg>`) }])
    .jpeg({ quality: 85 })
    .toBuffer();
  writeFileSync(join(out, 'train', `${id}.jpg`), jpeg);
  written++;
}
writeFileSync(join(out, 'oidv7-train-annotations-human-imagelabels.csv'), `${human.join('\n')}\n`);
writeFileSync(join(out, 'oidv7-train-annotations-machine-imagelabels.csv'), `${machine.join('\n')}\n`);
console.log(JSON.stringify({ out, images: count, jpegs: written, labels: LABELS.length, humanRows: human.length - 1, machineRows: machine.length - 1, bad: bad.size }));
