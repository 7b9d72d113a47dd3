#!/usr/bin/env node
// datasets-read benchmark: read a 10,000-image WebDataset pool end to end, fully decoding every image
// to an RGB pixel array, with @select/datasets (sharp) and with Python webdataset + Pillow on the same
// shards in the same run. Prints samples/s and ratios; writes tools/bench/results/datasets-read.json.
//
//   node tools/bench/datasets-read/run.mjs [--images 10000] [--repeats 3]
//
// First run: builds @select/datasets, generates the pool under tools/bench/.cache (git-ignored) and a
// Python venv under tools/bench/datasets-read/.venv (git-ignored). Later runs reuse both.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdirSync, readdirSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../../..');
const { values: args } = parseArgs({
  options: {
    images: { type: 'string', default: '10000' },
    repeats: { type: 'string', default: '3' },
    'per-shard': { type: 'string', default: '1000' },
  },
});
const images = Number(args.images);
const repeats = Number(args.repeats);
const perShard = Number(args['per-shard']);
const WIDTH = 400;
const HEIGHT = 300;
const JPEG_QUALITY = 90;

function run(command, commandArgs, options = {}) {
  return execFileSync(command, commandArgs, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...options });
}

// 1. The library under test, built the way other packages consume it.
run(join(root, 'node_modules/.bin/tsc'), ['-b', 'packages/datasets/tsconfig.lib.json']);
const { ShiftWriter } = await import('@select/datasets');
const sharp = (await import('sharp')).default;

// 2. The pool: real-size JPEGs with varied content (gradients, shapes, noise of varying strength), in
//    WebDataset shards written by ShiftWriter. An interrupted generation resumes where it stopped.
const poolDir = join(root, 'tools/bench/.cache/datasets-read', `pool-${images}x${WIDTH}x${HEIGHT}-q${JPEG_QUALITY}-v1`);
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

// 3. The peer: Python webdataset + Pillow in a venv of its own.
const venv = join(here, '.venv');
const python = join(venv, 'bin/python');
if (!existsSync(python)) {
  console.log('creating the Python venv ...');
  run('python3', ['-m', 'venv', venv]);
  run(join(venv, 'bin/pip'), ['install', '--quiet', '-r', join(here, 'requirements.txt')]);
}

// 4. Same page-cache state for everyone: read every shard once before timing.
for (const shard of shards) readFileSync(join(poolDir, shard));

const contenders = [
  { name: 'ts-serial', label: 'TypeScript, 1 image at a time', command: process.execPath, args: [join(here, 'read-ts.mjs'), pattern, '1'] },
  { name: 'ts-parallel', label: 'TypeScript, 16 images in flight (default)', command: process.execPath, args: [join(here, 'read-ts.mjs'), pattern, '16'] },
  { name: 'ts-parallel-4', label: 'TypeScript, 4 images in flight', command: process.execPath, args: [join(here, 'read-ts.mjs'), pattern, '4'] },
  { name: 'py-serial', label: 'Python webdataset + Pillow, 1 process', command: python, args: [join(here, 'read_py.py'), pattern, '--workers', '1'] },
  { name: 'py-parallel', label: `Python webdataset + Pillow, ${availableParallelism()} processes`, command: python, args: [join(here, 'read_py.py'), pattern, '--workers', String(availableParallelism())] },
];
const runs = Object.fromEntries(contenders.map((contender) => [contender.name, []]));
const cpuRuns = Object.fromEntries(contenders.map((contender) => [contender.name, []]));
// The machine may be shared; the load average says how far to trust the numbers.
const loadBefore = loadavg()[0];
const uptimeBefore = run('uptime', []).trim();
for (let repeat = 0; repeat < repeats; repeat++) {
  // Interleaved, so drift in machine load hits every contender alike.
  for (const contender of contenders) {
    const result = JSON.parse(run(contender.command, contender.args).trim().split('\n').pop());
    if (result.samples !== images || result.errors !== 0) throw new Error(`${contender.name} read ${result.samples} samples with ${result.errors} errors`);
    runs[contender.name].push(result.seconds);
    cpuRuns[contender.name].push(result.cpuSeconds);
    console.log(
      `  ${contender.name.padEnd(12)} run ${repeat + 1}: ${(images / result.seconds).toFixed(0)} samples/s, ${((result.cpuSeconds / images) * 1e6).toFixed(0)} µs CPU per sample`,
    );
  }
}
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const rate = Object.fromEntries(Object.entries(runs).map(([name, seconds]) => [name, images / median(seconds)]));
// CPU time per sample (all threads and worker processes): what the wall-clock rate would be on an idle
// machine with every core busy, and far less disturbed by other jobs than wall time.
const cpuPerSample = Object.fromEntries(Object.entries(cpuRuns).map(([name, seconds]) => [name, median(seconds) / images]));
const ratios = {
  parallel: rate['ts-parallel'] / rate['py-parallel'],
  serial: rate['ts-serial'] / rate['py-serial'],
  tsParallelVsPySerial: rate['ts-parallel'] / rate['py-serial'],
  cpuEfficiencySerial: cpuPerSample['py-serial'] / cpuPerSample['ts-serial'],
  cpuEfficiencyParallel: cpuPerSample['py-parallel'] / cpuPerSample['ts-parallel'],
};

console.log(`\ndatasets-read: ${images} JPEGs ${WIDTH}x${HEIGHT} (q${JPEG_QUALITY}, ${(poolBytes / 1e6).toFixed(0)} MB in ${shards.length} shards), full decode to RGB, median of ${repeats}`);
for (const contender of contenders) {
  const cpu = `${(cpuPerSample[contender.name] * 1e6).toFixed(0)} µs CPU per sample`;
  console.log(`  ${contender.label.padEnd(48)} ${rate[contender.name].toFixed(0).padStart(6)} samples/s  ${cpu}`);
}
console.log(`  ratio TS/Python, both parallel:  ${ratios.parallel.toFixed(2)}x`);
console.log(`  ratio TS/Python, both serial:    ${ratios.serial.toFixed(2)}x`);
console.log(`  CPU efficiency TS/Python (samples per CPU-second): ${ratios.cpuEfficiencySerial.toFixed(2)}x serial, ${ratios.cpuEfficiencyParallel.toFixed(2)}x parallel`);

const pythonVersions = JSON.parse(
  run(python, ['-c', 'import json, sys, PIL, numpy, webdataset; print(json.dumps({"python": sys.version.split()[0], "pillow": PIL.__version__, "numpy": numpy.__version__, "webdataset": webdataset.__version__}))']),
);
const result = {
  benchmark: 'datasets-read',
  date: new Date().toISOString(),
  machine: {
    cpu: cpus()[0]?.model,
    cores: availableParallelism(),
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    os: `${platform()} ${release()}`,
    node: process.version,
    sharp: sharp.versions.sharp,
    libvips: sharp.versions.vips,
    uvThreadpoolSize: Number(process.env.UV_THREADPOOL_SIZE ?? 4),
    loadAverage1m: { before: Number(loadBefore.toFixed(2)), after: Number(loadavg()[0].toFixed(2)) },
    uptime: { before: uptimeBefore, after: run('uptime', []).trim() },
    ...pythonVersions,
  },
  pool: { images, width: WIDTH, height: HEIGHT, jpegQuality: JPEG_QUALITY, shards: shards.length, bytes: poolBytes },
  decode: 'every image fully decoded to an HxWx3 uint8 RGB array; .cls parsed; shards read from page cache',
  repeats,
  samplesPerSecond: Object.fromEntries(Object.entries(rate).map(([name, value]) => [name, Math.round(value)])),
  secondsPerRun: runs,
  cpuMicrosecondsPerSample: Object.fromEntries(Object.entries(cpuPerSample).map(([name, value]) => [name, Math.round(value * 1e6)])),
  cpuSecondsPerRun: cpuRuns,
  ratios: Object.fromEntries(Object.entries(ratios).map(([name, value]) => [name, Number(value.toFixed(3))])),
};
mkdirSync(join(root, 'tools/bench/results'), { recursive: true });
writeFileSync(join(root, 'tools/bench/results/datasets-read.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log('wrote tools/bench/results/datasets-read.json');

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
