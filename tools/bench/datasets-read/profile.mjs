#!/usr/bin/env node
// Where the datasets-read time goes, stage by stage, in CPU time per image (all threads of the process),
// on the first `--images` samples of the benchmark pool (run run.mjs once first to build and generate it):
//   tar reading + grouping (readClassShards), the libjpeg-turbo addon alone, decodeImage (addon + wrapper),
//   sharp's old pipeline, one at a time and 16 in flight; then Pillow's stages in the project's Python:
//   Image.open + load (decode), np.asarray (RGBX -> RGB copy), the webdataset loop around them.
//
//   node tools/bench/datasets-read/profile.mjs [--images 2000]
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ROOT, peerEnv, projectPython, uptime, wholeOption, writeResult } from '../lib/bench-kit.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({ options: { images: { type: 'string', default: '2000' } } });
const limit = wholeOption('images', args.images);
const poolDir = join(ROOT, 'tools/bench/.cache/datasets-read/pool-10000x400x300-q90-v1');
const shards = readdirSync(poolDir).filter((name) => /^\d{5}\.tar$/.test(name)).sort();
const pattern = join(poolDir, `{00000..${String(shards.length - 1).padStart(5, '0')}}.tar`);

const { decodeImage, readClassShards } = await import('@select/datasets');
const sharp = (await import('sharp')).default;
const addon = createRequire(import.meta.url)(join(ROOT, 'packages/datasets/build/Release/select_jpeg_decode.node'));

const stages = {};
async function stage(name, body) {
  const cpu = process.cpuUsage();
  const start = performance.now();
  const n = await body();
  const used = process.cpuUsage(cpu);
  stages[name] = { cpuMicrosecondsPerImage: Math.round((used.user + used.system) / n), wallMicrosecondsPerImage: Math.round(((performance.now() - start) * 1000) / n) };
  console.log(`  ${name.padEnd(44)} ${String(stages[name].cpuMicrosecondsPerImage).padStart(5)} µs CPU/image  ${String(stages[name].wallMicrosecondsPerImage).padStart(5)} µs wall/image`);
}
async function inFlight(items, width, work) {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await work(items[next++]);
  }));
  return items.length;
}

const before = uptime();
console.log(`TypeScript stages, ${limit} images (${before})`);
const bytes = [];
await stage('tar reading + grouping (readClassShards)', async () => {
  for await (const record of readClassShards({ shards: pattern })) {
    if (bytes.length === limit) break;
    bytes.push(record.sample.image.bytes);
  }
  return bytes.length;
});
await stage('addon decodeJpeg, 1 at a time', () => inFlight(bytes, 1, (b) => addon.decodeJpeg(b, true, 268402689)));
await stage('addon decodeJpeg, 16 in flight', () => inFlight(bytes, 16, (b) => addon.decodeJpeg(b, true, 268402689)));
await stage('decodeImage (auto), 16 in flight', () => inFlight(bytes, 16, (b) => decodeImage(b)));
const oldPipeline = (b) => sharp(b, { failOn: 'warning' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
await stage("sharp pipeline (decoder 'sharp'), 1 at a time", () => inFlight(bytes, 1, oldPipeline));
await stage("sharp pipeline (decoder 'sharp'), 16 in flight", () => inFlight(bytes, 16, oldPipeline));

console.log('Pillow stages');
const python = projectPython();
const code = `
import io, json, resource, sys, time
import numpy as np, webdataset as wds
from PIL import Image
limit = int(sys.argv[2])
def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF); return u.ru_utime + u.ru_stime
out = {}
t = cpu(); raw = []
for s in wds.WebDataset(list(wds.shardlists.expand_urls(sys.argv[1])), shardshuffle=False, empty_check=False):
    raw.append(s["jpg"]); int(s["cls"])
    if len(raw) == limit: break
out["webdataset tar reading (no decode)"] = cpu() - t
t = cpu(); images = []
for b in raw:
    im = Image.open(io.BytesIO(b)); im.load(); images.append(im)
out["Image.open + load (libjpeg-turbo decode)"] = cpu() - t
t = cpu()
for im in images: np.asarray(im)
out["np.asarray (RGBX -> RGB copy)"] = cpu() - t
images = None
t = cpu()
for s in wds.WebDataset(list(wds.shardlists.expand_urls(sys.argv[1])), shardshuffle=False, empty_check=False).decode("pil"):
    np.asarray(s["jpg"]); int(s["cls"]); limit -= 1
    if limit == 0: break
out["whole loop: webdataset .decode('pil') + np.asarray"] = cpu() - t
print(json.dumps({k: v / len(raw) for k, v in out.items()}))
`;
const pillow = JSON.parse(execFileSync(python, ['-c', code, pattern, String(limit)], { env: peerEnv(1), encoding: 'utf8' }).trim().split('\n').pop());
for (const [name, seconds] of Object.entries(pillow)) {
  stages[`pillow: ${name}`] = { cpuMicrosecondsPerImage: Math.round(seconds * 1e6) };
  console.log(`  ${name.padEnd(44)} ${String(Math.round(seconds * 1e6)).padStart(5)} µs CPU/image`);
}
writeResult('datasets-read-profile', { benchmark: 'datasets-read-profile', date: new Date().toISOString(), command: `node tools/bench/datasets-read/profile.mjs --images ${limit}`, images: limit, uptime: { before, after: uptime() }, stages, script: here.replace(ROOT, '') });
