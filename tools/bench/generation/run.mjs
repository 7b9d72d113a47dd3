#!/usr/bin/env node
// generation benchmark: per-step and whole-image time of @select/diffusion's Stable Diffusion pipeline
// against (1) the raw onnxruntime-node UNet session (the floor; overhead target ≤ 5 % per step) and
// (2) optimum's ORTStableDiffusionPipeline (PyPI) on the same ONNX export, same run (target ≥ 1.0×).
// Peak RSS of every contender is recorded (each runs in its own process).
//
//   node tools/bench/generation/run.mjs [--sizes tiny,256,512] [--repeats 1] [--threads 2]
//
// Models: the committed tiny fixture (tools/fixtures/tiny-sd/model, 64×64, 20 steps) and an
// SD-1.5-architecture export with random weights that make_sd15_random.py writes under
// tools/bench/.cache/generation (git-ignored, ~5 GB, a few minutes to build the first time).
// Python: $GENERATION_BENCH_PYTHON, else a venv under tools/bench/generation/.venv from requirements.txt.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../../..');
const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: 'tiny,256,512' },
    repeats: { type: 'string', default: '1' },
    threads: { type: 'string', default: String(availableParallelism()) },
  },
});
const repeats = Number(args.repeats);
const threads = Number(args.threads);
const run = (command, commandArgs) =>
  execFileSync(command, commandArgs, { cwd: here, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 });

run(join(root, 'node_modules/.bin/tsc'), ['-b', join(root, 'packages/diffusion/tsconfig.lib.json')]);

let python = process.env.GENERATION_BENCH_PYTHON;
if (!python) {
  const venv = join(here, '.venv');
  python = join(venv, 'bin/python');
  if (!existsSync(python)) {
    console.log('creating the Python venv ...');
    run('python3', ['-m', 'venv', venv]);
    run(join(venv, 'bin/pip'), ['install', '--quiet', '-r', join(here, 'requirements.txt')]);
    run(join(venv, 'bin/pip'), ['install', '--quiet', '--no-deps', 'open_clip_torch']);
  }
}

const sd15 = join(root, 'tools/bench/.cache/generation/sd15-random');
const configs = [];
for (const size of args.sizes.split(',')) {
  if (size === 'tiny') configs.push({ name: 'tiny-64', model: join(root, 'tools/fixtures/tiny-sd/model'), width: 64, height: 64, steps: 20 });
  else configs.push({ name: `sd15-${size}`, model: sd15, width: Number(size), height: Number(size), steps: Number(size) >= 512 ? 4 : 6 });
}
if (configs.some((c) => c.model === sd15) && !existsSync(join(sd15, 'unet/model.onnx'))) {
  console.log('exporting the random-weight SD 1.5 architecture (first run only) ...');
  run(python, [join(here, 'make_sd15_random.py'), sd15]);
}

const loadBefore = loadavg()[0];
const results = [];
for (const c of configs) {
  const contenders = {
    raw: () => [process.execPath, [join(here, 'bench-ts.mjs'), 'raw', c.model, c.width, c.height, c.steps, threads].map(String)],
    ours: () => [process.execPath, [join(here, 'bench-ts.mjs'), 'pipeline', c.model, c.width, c.height, c.steps, threads].map(String)],
    optimum: () => [python, [join(here, 'bench_optimum.py'), c.model, c.width, c.height, c.steps, threads].map(String)],
  };
  const runs = { raw: [], ours: [], optimum: [] };
  // The tiny model takes milliseconds: always give it a few repeats.
  for (let r = 0; r < (c.model === sd15 ? repeats : Math.max(repeats, 5)); r++) {
    // Interleaved, so drift in machine load hits every contender alike.
    for (const [name, make] of Object.entries(contenders)) {
      const [command, commandArgs] = make();
      const out = JSON.parse(run(command, commandArgs).trim().split('\n').pop());
      runs[name].push(out);
      console.log(`  ${c.name} ${name.padEnd(8)} step ${out.stepMs.toFixed(1)} ms${out.wholeMs ? `, image ${(out.wholeMs / 1000).toFixed(2)} s` : ''}, peak RSS ${out.peakRssMiB.toFixed(0)} MiB`);
    }
  }
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const pick = (name, field) => median(runs[name].map((o) => o[field]));
  const summary = {
    config: c.name,
    date: new Date().toISOString(),
    loadAverage1m: { before: Number(loadBefore.toFixed(2)), now: Number(loadavg()[0].toFixed(2)) },
    width: c.width,
    height: c.height,
    steps: c.steps,
    scheduler: 'unipc',
    guidance: 7.5,
    stepMs: { raw: pick('raw', 'stepMs'), ours: pick('ours', 'stepMs'), optimum: pick('optimum', 'stepMs') },
    stepMeanMs: { raw: pick('raw', 'stepMeanMs'), ours: pick('ours', 'stepMeanMs'), optimum: pick('optimum', 'stepMeanMs') },
    wholeImageMs: { ours: pick('ours', 'wholeMs'), optimum: pick('optimum', 'wholeMs') },
    promptEncodingMs: { ours: pick('ours', 'headMs'), optimum: pick('optimum', 'headMs') },
    decodeAndEncodeMs: { ours: pick('ours', 'tailMs'), optimum: pick('optimum', 'tailMs') },
    peakRssMiB: { raw: pick('raw', 'peakRssMiB'), ours: pick('ours', 'peakRssMiB'), optimum: pick('optimum', 'peakRssMiB') },
    runs,
  };
  summary.stepOverheadVsRaw = summary.stepMs.ours / summary.stepMs.raw - 1;
  summary.stepMeanOverheadVsRaw = summary.stepMeanMs.ours / summary.stepMeanMs.raw - 1;
  // Each repeat runs raw and ours back to back: the median of their ratios cancels most load drift.
  summary.stepOverheadVsRawPaired = median(runs.ours.map((o, i) => o.stepMs / runs.raw[i].stepMs)) - 1;
  summary.speedupVsOptimum = { step: summary.stepMs.optimum / summary.stepMs.ours, wholeImage: summary.wholeImageMs.optimum / summary.wholeImageMs.ours };
  results.push(summary);
  console.log(
    `${c.name}: step overhead vs raw ORT ${(summary.stepOverheadVsRaw * 100).toFixed(1)} % (median; paired ${(summary.stepOverheadVsRawPaired * 100).toFixed(1)} %, mean ${(summary.stepMeanOverheadVsRaw * 100).toFixed(1)} %), ` +
      `vs optimum ${summary.speedupVsOptimum.step.toFixed(2)}× per step, ${summary.speedupVsOptimum.wholeImage.toFixed(2)}× whole image`,
  );
}

const versions = JSON.parse(
  run(python, ['-c', 'import json,sys,torch,diffusers,onnxruntime,optimum.onnxruntime as o; import importlib.metadata as m; print(json.dumps({"python": sys.version.split()[0], "onnxruntimePython": onnxruntime.__version__, "diffusers": diffusers.__version__, "optimumOnnx": m.version("optimum-onnx")}))']),
);
const ortNode = JSON.parse(run(process.execPath, ['-e', 'console.log(JSON.stringify(require("onnxruntime-node/package.json").version))']));
const result = {
  benchmark: 'generation',
  date: new Date().toISOString(),
  machine: {
    cpu: cpus()[0]?.model,
    cores: availableParallelism(),
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    os: `${platform()} ${release()}`,
    node: process.version,
    onnxruntimeNode: ortNode,
    ...versions,
    intraOpThreads: threads,
    loadAverage1m: { before: Number(loadBefore.toFixed(2)), after: Number(loadavg()[0].toFixed(2)) },
  },
  notes: [
    'raw = onnxruntime-node UNet session.run in the calling thread with the pipeline shapes (batch 2 for CFG), same session options; the floor for a step',
    'ours = StableDiffusionPipeline.generate (UNet in a worker thread, scheduler in TS); step = gap between progress events',
    'optimum = ORTStableDiffusionPipeline with UniPCMultistepScheduler, same export and thread count; step = gap between callback_on_step_end calls',
    'whole image = text encoding + all steps + VAE decode + PNG encode, after one warm-up generation of the same request (raw: as many warm-up runs as steps)',
    'stepMeanMs: mean step time (ours: from the gaps between progress events); a check on the median',
    'results with carriedOver: true were not rerun in this run; their date and loadAverage1m are their own',
  ],
  repeats,
  results,
};
// Configs not run this time keep their last result (with its own date and machine load), so that a
// quick `--sizes tiny` run does not drop the SD-1.5 numbers that take many minutes to measure.
const resultsFile = join(root, 'tools/bench/results/generation.json');
if (existsSync(resultsFile)) {
  const previous = JSON.parse(readFileSync(resultsFile, 'utf8'));
  for (const old of previous.results ?? []) {
    if (results.some((r) => r.config === old.config)) continue;
    results.push({ ...old, date: old.date ?? previous.date, loadAverage1m: old.loadAverage1m ?? previous.machine?.loadAverage1m, carriedOver: true });
  }
}
mkdirSync(join(root, 'tools/bench/results'), { recursive: true });
writeFileSync(resultsFile, `${JSON.stringify(result, null, 2)}\n`);
console.log('wrote tools/bench/results/generation.json');
