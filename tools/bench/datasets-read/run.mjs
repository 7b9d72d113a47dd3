#!/usr/bin/env node
// datasets-read benchmark: read a 10,000-image WebDataset pool end to end, fully decoding every image
// to an RGB pixel array, with @select/datasets and with Python webdataset + Pillow on the same shards in
// the same run. Checks first that every image's pixels are identical on both sides, then times the
// contenders interleaved over the repeats. Prints samples/s, CPU per sample and paired ratios; writes
// tools/bench/results/datasets-read.json.
//
//   node tools/bench/datasets-read/run.mjs [--images 10000] [--repeats 3] [--per-shard 1000] [--skip-check]
//
// First run: builds @select/datasets (its JPEG addon included) and generates the pool under
// tools/bench/.cache (git-ignored). The Python peer is the project's environment (.work/py, made by
// scripts/python-env.sh), run in bench-kit's peerEnv.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ROOT, interleave, machineInfo, median, pairedRatios, peerEnv, projectPython, resultName, uptime, wholeOption, writeResult } from '../lib/bench-kit.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    images: { type: 'string', default: '10000' },
    repeats: { type: 'string', default: '3' },
    'per-shard': { type: 'string', default: '1000' },
    'skip-check': { type: 'boolean', default: false },
    // results file tools/bench/results/<name>.json (a run on another machine or a check keeps the recorded one)
    name: { type: 'string', default: 'datasets-read' },
  },
});
const images = wholeOption('images', args.images);
const repeats = wholeOption('repeats', args.repeats);
const perShard = wholeOption('per-shard', args['per-shard']);
resultName(args.name);
const cores = availableParallelism();
const WIDTH = 400;
const HEIGHT = 300;
const JPEG_QUALITY = 90;

function run(command, commandArgs, options = {}) {
  return execFileSync(command, commandArgs, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 28, ...options });
}

// 1. The library under test, built the way other packages consume it (the addon, then dist/).
run(process.execPath, ['packages/datasets/scripts/build-native.mjs']);
run(join(ROOT, 'node_modules/.bin/tsc'), ['-b', 'packages/datasets/tsconfig.lib.json']);
const { ShiftWriter, decodeImages, jpegDecoder, readClassShards } = await import('@select/datasets');
const sharp = (await import('sharp')).default;
if (!jpegDecoder().startsWith('libjpeg-turbo')) throw new Error(`the JPEG addon did not load (decoder: ${jpegDecoder()})`);

// 2. The pool: real-size JPEGs with varied content (gradients, shapes, noise of varying strength), in
//    WebDataset shards written by ShiftWriter. An interrupted generation resumes where it stopped.
const poolDir = join(ROOT, 'tools/bench/.cache/datasets-read', `pool-${images}x${WIDTH}x${HEIGHT}-q${JPEG_QUALITY}-v1`);
const poolSummary = join(poolDir, 'shift.json');
if (!existsSync(poolSummary) || !JSON.parse(readFileSync(poolSummary, 'utf8')).complete) {
  console.log(`generating ${images} images into ${poolDir} ...`);
  const started = performance.now();
  const classes = Array.from({ length: 1000 }, (_, i) => `n${String(i).padStart(8, '0')}`);
  const writer = await ShiftWriter.open(poolDir, {
    name: 'bench-pool',
    strategy: 'synthetic',
    params: { images, width: WIDTH, height: HEIGHT },
    classes,
    maxSamplesPerShard: perShard,
    jpegQuality: JPEG_QUALITY,
  });
  const pending = [];
  for (let i = 0; i < images; i++) {
    const sourceId = `synthetic/${i}`;
    if (writer.has(writer.idFor({ sourceId }))) continue;
    pending.push(writer.add({ sourceId, classIndex: i % 1000, image: { data: syntheticPixels(i), width: WIDTH, height: HEIGHT, channels: 3 } }));
    if (pending.length >= 4) await pending.shift();
  }
  await Promise.all(pending);
  await writer.close();
  console.log(`generated in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
const shards = readdirSync(poolDir).filter((name) => /^\d{5}\.tar$/.test(name)).sort();
const pattern = join(poolDir, `{00000..${String(shards.length - 1).padStart(5, '0')}}.tar`);
const poolBytes = JSON.parse(readFileSync(poolSummary, 'utf8')).shards.reduce((sum, shard) => sum + shard.bytes, 0);

// 3. The peer: the project's Python (webdataset + Pillow + torch), one BLAS/OpenMP thread per process.
const python = projectPython();
const env = peerEnv(1);

// 4. Same page-cache state for everyone: read every shard once before timing.
for (const shard of shards) readFileSync(join(poolDir, shard));

// 5. Pixel equality on every image of the pool: sha256 of each sample's RGB bytes, ours against Pillow's.
let pixelCheck = { skipped: true };
if (!args['skip-check']) {
  console.log(`checking that every one of the ${images} images decodes to the same pixels on both sides ...`);
  const digestFile = join(tmpdir(), `datasets-read-digests-${process.pid}.json`);
  run(python, [join(here, 'read_py.py'), pattern, '--dump-digests', digestFile], { env });
  const pillow = JSON.parse(readFileSync(digestFile, 'utf8'));
  rmSync(digestFile, { force: true });
  let compared = 0;
  const mismatches = [];
  for await (const record of decodeImages(readClassShards({ shards: pattern }))) {
    if (!record.ok) throw new Error(`ours failed to decode: ${record.error.message}`);
    // Both sides key samples by the WebDataset key (the member name without its extension).
    const { pixels, key } = record.sample;
    const theirs = pillow[key];
    const ours = [pixels.width, pixels.height, createHash('sha256').update(pixels.data).digest('hex')];
    compared++;
    if (!theirs || theirs.join() !== ours.join()) mismatches.push(key);
  }
  if (compared !== Object.keys(pillow).length) mismatches.push(`count: ours ${compared}, Pillow ${Object.keys(pillow).length}`);
  pixelCheck = { images: compared, identical: compared - mismatches.length, mismatches: mismatches.slice(0, 20), method: 'sha256 of each H x W x 3 uint8 array, every sample' };
  console.log(`  ${pixelCheck.identical} of ${compared} images identical to Pillow's`);
  if (mismatches.length > 0) throw new Error(`pixels differ from Pillow's for ${mismatches.length} images: ${mismatches.slice(0, 5).join(', ')}`);
}

const contenders = {
  'ts-parallel': { label: 'TypeScript, 16 in flight (decodeImages default, libjpeg-turbo)', command: process.execPath, args: [join(here, 'read-ts.mjs'), pattern, '16'] },
  'ts-serial': { label: 'TypeScript, 1 image at a time (libjpeg-turbo)', command: process.execPath, args: [join(here, 'read-ts.mjs'), pattern, '1'] },
  'ts-platform': { label: 'TypeScript, 16 in flight, @select/platform (gRPC) loaded too', command: process.execPath, args: [join(here, 'read-ts.mjs'), pattern, '16', 'auto', 'with-platform'] },
  'ts-sharp': { label: "TypeScript, decoder 'sharp', platform loaded (= before)", command: process.execPath, args: [join(here, 'read-ts.mjs'), pattern, '16', 'sharp', 'with-platform'] },
  'py-serial': { label: 'Python webdataset + Pillow, 1 process', command: python, args: [join(here, 'read_py.py'), pattern, '--mode', 'serial'] },
  'py-procs': { label: `Python, shards over ${cores} processes (arrays stay in them)`, command: python, args: [join(here, 'read_py.py'), pattern, '--mode', 'procs', '--workers', String(cores)] },
  'py-dataloader': { label: `Python, torch DataLoader num_workers=${cores}`, command: python, args: [join(here, 'read_py.py'), pattern, '--mode', 'dataloader', '--workers', String(cores)] },
};
const uptimeBefore = uptime();
console.log(`uptime before: ${uptimeBefore}`);
const runs = await interleave(
  Object.fromEntries(
    Object.entries(contenders).map(([name, contender]) => [
      name,
      async () => {
        const result = JSON.parse(run(contender.command, contender.args, { env: name.startsWith('py') ? env : process.env }).trim().split('\n').pop());
        if (result.samples !== images || result.errors !== 0) throw new Error(`${name} read ${result.samples} samples with ${result.errors} errors`);
        console.log(`  ${name.padEnd(14)} ${(images / result.seconds).toFixed(0).padStart(6)} samples/s, ${((result.cpuSeconds / images) * 1e6).toFixed(0)} µs CPU per sample`);
        return result;
      },
    ]),
  ),
  repeats,
);
const uptimeAfter = uptime();
console.log(`uptime after: ${uptimeAfter}`);

const seconds = (name) => runs[name].map((r) => r.seconds);
const cpu = (name) => runs[name].map((r) => r.cpuSeconds);
const summary = Object.fromEntries(
  Object.keys(contenders).map((name) => [
    name,
    {
      label: contenders[name].label,
      samplesPerSecond: Math.round(images / median(seconds(name))),
      cpuMicrosecondsPerSample: Math.round((median(cpu(name)) / images) * 1e6),
      secondsPerRun: seconds(name).map((s) => Number(s.toFixed(3))),
      ...(runs[name][0].heapMB === undefined ? {} : { heapMBAtEnd: runs[name].map((r) => r.heapMB) }),
      cpuSecondsPerRun: cpu(name).map((s) => Number(s.toFixed(3))),
    },
  ]),
);
// The headline ratio is taken against the fastest Python contender of this run by median wall time,
// serial included: on a loaded machine two processes are not always faster than one.
const pythonNames = ['py-serial', 'py-procs', 'py-dataloader'];
const bestPy = pythonNames.reduce((best, name) => (median(seconds(name)) < median(seconds(best)) ? name : best));
const round = (ratio) => ({ ...ratio, perRepeat: ratio.perRepeat.map((x) => Number(x.toFixed(3))), median: Number(ratio.median.toFixed(3)), min: Number(ratio.min.toFixed(3)), max: Number(ratio.max.toFixed(3)) });
const leanPy = pythonNames.reduce((best, name) => (median(cpu(name)) < median(cpu(best)) ? name : best));
const cpuRatio = (ours, peer) => Number((median(cpu(peer)) / median(cpu(ours))).toFixed(3));
const ratios = {
  bestPython: bestPy,
  parallelVsBestPython: round(pairedRatios(seconds('ts-parallel'), seconds(bestPy))),
  parallelVsPyProcs: round(pairedRatios(seconds('ts-parallel'), seconds('py-procs'))),
  parallelVsPyDataloader: round(pairedRatios(seconds('ts-parallel'), seconds('py-dataloader'))),
  parallelVsPySerial: round(pairedRatios(seconds('ts-parallel'), seconds('py-serial'))),
  serialVsPySerial: round(pairedRatios(seconds('ts-serial'), seconds('py-serial'))),
  platformLoadedVsBestPython: round(pairedRatios(seconds('ts-platform'), seconds(bestPy))),
  sharpVsBestPython: round(pairedRatios(seconds('ts-sharp'), seconds(bestPy))),
  parallelVsSharp: round(pairedRatios(seconds('ts-parallel'), seconds('ts-sharp'))),
  // Samples per CPU-second, ours / Python's (> 1: ours does more work per CPU-second); against the
  // Python contender with the least CPU per sample.
  leanestPython: leanPy,
  cpuEfficiencyParallel: cpuRatio('ts-parallel', leanPy),
  cpuEfficiencySerial: cpuRatio('ts-serial', leanPy),
  cpuEfficiencyPlatformLoaded: cpuRatio('ts-platform', leanPy),
  cpuEfficiencySharp: cpuRatio('ts-sharp', leanPy),
};

console.log(`\ndatasets-read: ${images} JPEGs ${WIDTH}x${HEIGHT} (q${JPEG_QUALITY}, ${(poolBytes / 1e6).toFixed(0)} MB in ${shards.length} shards), full decode to RGB, median of ${repeats} interleaved repeats`);
for (const [name, row] of Object.entries(summary)) {
  console.log(`  ${row.label.padEnd(64)} ${String(row.samplesPerSecond).padStart(6)} samples/s  ${row.cpuMicrosecondsPerSample} µs CPU per sample`);
}
const show = (ratio) => `${ratio.median.toFixed(2)}x (paired, per repeat ${ratio.perRepeat.map((x) => x.toFixed(2)).join(' / ')})`;
console.log(`  ours 16 in flight / fastest Python (${bestPy}): ${show(ratios.parallelVsBestPython)}`);
console.log(`  ours serial / Python serial:              ${show(ratios.serialVsPySerial)}`);
console.log(`  with @select/platform loaded / fastest Python: ${show(ratios.platformLoadedVsBestPython)}`);
console.log(`  decoder 'sharp' (before) / fastest Python:   ${show(ratios.sharpVsBestPython)}`);
console.log(`  CPU efficiency ours / leanest Python (${leanPy}): ${ratios.cpuEfficiencyParallel}x parallel, ${ratios.cpuEfficiencySerial}x serial (platform loaded: ${ratios.cpuEfficiencyPlatformLoaded}x, sharp: ${ratios.cpuEfficiencySharp}x)`);

const pythonVersions = JSON.parse(
  run(python, ['-c', 'import json, sys, PIL, numpy, webdataset, torch; from PIL import features; print(json.dumps({"python": sys.version.split()[0], "pillow": PIL.__version__, "pillowLibjpegTurbo": features.version("libjpeg_turbo"), "numpy": numpy.__version__, "webdataset": webdataset.__version__, "torch": torch.__version__}))'], { env }),
);
writeResult(args.name, {
  benchmark: 'datasets-read',
  date: new Date().toISOString(),
  command: `node tools/bench/datasets-read/run.mjs --images ${images} --repeats ${repeats} --per-shard ${perShard} --name ${args.name}`,
  machine: { ...machineInfo(), sharp: sharp.versions.sharp, libvips: sharp.versions.vips, jpegDecoder: jpegDecoder(), uvThreadpoolSize: Number(process.env.UV_THREADPOOL_SIZE ?? 4), ...pythonVersions },
  uptime: { before: uptimeBefore, after: uptimeAfter },
  pool: { images, width: WIDTH, height: HEIGHT, jpegQuality: JPEG_QUALITY, shards: shards.length, bytes: poolBytes },
  decode: 'every image fully decoded to an HxWx3 uint8 RGB array; .cls parsed; shards read from page cache',
  pixelCheck,
  repeats,
  contenders: summary,
  ratios,
});

/** A 400x300 RGB image: a two-colour gradient, a few flat shapes and noise of per-image strength. */
function syntheticPixels(seed) {
  let state = (seed + 1) * 0x9e3779b1;
  const random = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
  const from = [random() * 255, random() * 255, random() * 255];
  const to = [random() * 255, random() * 255, random() * 255];
  const angle = random() * Math.PI;
  const [dx, dy] = [Math.cos(angle), Math.sin(angle)];
  const norm = Math.abs(dx) * WIDTH + Math.abs(dy) * HEIGHT;
  const noise = 4 + random() * 28;
  const shapes = Array.from({ length: 2 + Math.floor(random() * 5) }, () => ({
    x: random() * WIDTH,
    y: random() * HEIGHT,
    r: 10 + random() * 80,
    round: random() < 0.5,
    colour: [random() * 255, random() * 255, random() * 255],
  }));
  const pixels = Buffer.alloc(WIDTH * HEIGHT * 3);
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      const t = (Math.abs(dx) * (dx < 0 ? WIDTH - x : x) + Math.abs(dy) * y) / norm;
      let colour = null;
      for (const shape of shapes) {
        const inside = shape.round ? (x - shape.x) ** 2 + (y - shape.y) ** 2 < shape.r ** 2 : Math.abs(x - shape.x) < shape.r && Math.abs(y - shape.y) < shape.r * 0.6;
        if (inside) colour = shape.colour;
      }
      const jitter = (random() - 0.5) * noise;
      const at = (y * WIDTH + x) * 3;
      for (let c = 0; c < 3; c++) {
        const base = colour === null ? from[c] * (1 - t) + to[c] * t : colour[c];
        pixels[at + c] = Math.max(0, Math.min(255, base + jitter));
      }
    }
  }
  return pixels;
}
