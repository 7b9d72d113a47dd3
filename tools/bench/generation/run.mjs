#!/usr/bin/env node
// generation benchmark: per-step and whole-image time of @select/diffusion's Stable Diffusion pipeline
// against (1) the raw onnxruntime-node UNet session (the floor; overhead target ≤ 5 % per step) and
// (2) optimum's ORTStableDiffusionPipeline (PyPI) on the same ONNX export, same run (target ≥ 1.0×).
// Contenders run in their own processes (peak RSS is each one's own), interleaved over repeats with the order
// rotating (bench-kit interleave); ratios are paired per repeat and reported with their median, min and max.
//
//   node tools/bench/generation/run.mjs [--sizes tiny,256,512] [--repeats 1] [--threads 2] [--steps N] [--warmup N] [--name generation]
//
// Models: the committed tiny fixture (tools/fixtures/tiny-sd/model, 64×64, 20 steps) and an
// SD-1.5-architecture export with random weights that make_sd15_random.py writes under
// tools/bench/.cache/generation (git-ignored, ~4 GB, a few minutes to build the first time).
// Python: $GENERATION_BENCH_PYTHON, else a venv under tools/bench/generation/.venv: the packages of
// requirements.txt on top of the project's Python (.work/py, whose torch and onnxruntime it reuses).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, interleave, lastJsonLine, machineInfo, median, pairedRatios, projectPython, refuse, resultName, runCommand, uptime, wholeOption, writeResult } from '../lib/bench-kit.mjs';

const here = join(ROOT, 'tools/bench/generation');
const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: 'tiny,256,512' },
    repeats: { type: 'string', default: '1' },
    threads: { type: 'string', default: String(availableParallelism()) },
    // every config's step count (a short check of the commands); default: 20 tiny, 6 at 256², 4 at 512²
    steps: { type: 'string' },
    // whole generations before each contender's timed one (raw: that many times the steps in session runs);
    // default 5 for the tiny model, whose 2 ms steps show V8's tiering of the scheduler, 1 at SD sizes
    warmup: { type: 'string' },
    // results file tools/bench/results/<name>.json; a check run should not overwrite the recorded one
    name: { type: 'string', default: 'generation' },
  },
});
const repeats = wholeOption('repeats', args.repeats);
// undefined: each config's default (5 tiny, 1 at SD sizes)
const warmupAsked = args.warmup === undefined ? undefined : wholeOption('warmup', args.warmup, 0);
const threads = wholeOption('threads', args.threads);
const stepsAsked = args.steps === undefined ? undefined : wholeOption('steps', args.steps);
const sizes = args.sizes.split(',').map((size) => {
  if (size === 'tiny') return size;
  if (!(/^\d+$/.test(size) && Number(size) >= 64 && Number(size) % 8 === 0)) refuse(`--sizes takes tiny and image sizes (whole multiples of 8, at least 64), got ${JSON.stringify(size)}`);
  return Number(size);
});
resultName(args.name);
const run = (command, commandArgs, options = {}) => runCommand(command, commandArgs, { cwd: here, ...options });

run(join(ROOT, 'node_modules/.bin/tsc'), ['-b', join(ROOT, 'packages/diffusion/tsconfig.lib.json')]);

let python = process.env.GENERATION_BENCH_PYTHON;
if (!python) {
  const venv = join(here, '.venv');
  python = join(venv, 'bin/python');
  if (!existsSync(python)) {
    // optimum-onnx pins an older transformers than the project's; the venv holds those few packages and reads
    // everything else (torch, onnxruntime, numpy, open_clip) from the project's Python through a .pth file.
    const base = projectPython();
    console.log(`creating the Python venv ${venv} on top of ${base} ...`);
    run(base, ['-m', 'venv', venv]);
    const sitePackages = (py) => run(py, ['-c', "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).trim();
    writeFileSync(join(sitePackages(python), 'select-project-python.pth'), `${sitePackages(base)}\n`);
    run(python, ['-m', 'pip', 'install', '--quiet', '--progress-bar', 'off', '-r', join(here, 'requirements.txt')], { stdio: ['ignore', 'inherit', 'inherit'] });
  }
}

const sd15 = join(ROOT, 'tools/bench/.cache/generation/sd15-random');
const configs = [];
for (const size of sizes) {
  if (size === 'tiny') configs.push({ name: 'tiny-64', model: join(ROOT, 'tools/fixtures/tiny-sd/model'), width: 64, height: 64, steps: stepsAsked ?? 20, warmup: warmupAsked ?? 5 });
  else configs.push({ name: `sd15-${size}`, model: sd15, width: size, height: size, steps: stepsAsked ?? (size >= 512 ? 4 : 6), warmup: warmupAsked ?? 1 });
}
if (configs.some((c) => c.model === sd15) && !existsSync(join(sd15, 'unet/model.onnx'))) {
  console.log('exporting the random-weight SD 1.5 architecture (first run only) ...');
  run(python, [join(here, 'make_sd15_random.py'), sd15], { stdio: ['ignore', 'inherit', 'inherit'] });
}

const uptimeBefore = uptime();
const results = [];
for (const c of configs) {
  const contender = (command, commandArgs) => async () => {
    const out = lastJsonLine(run(command, commandArgs.map(String)));
    // interleave() logs `seconds`: the whole image, or for raw the timed session runs.
    return { ...out, seconds: (out.wholeMs ?? out.stepsMs.reduce((a, b) => a + b, 0)) / 1000 };
  };
  const bench = join(here, 'bench-ts.mjs');
  const contenders = {
    raw: contender(process.execPath, [bench, 'raw', c.model, c.width, c.height, c.steps, threads, c.warmup]),
    ours: contender(process.execPath, [bench, 'pipeline', c.model, c.width, c.height, c.steps, threads, c.warmup]),
    optimum: contender(python, [join(here, 'bench_optimum.py'), c.model, c.width, c.height, c.steps, threads, c.warmup]),
  };
  const configUptime = uptime();
  // The tiny model takes milliseconds: always give it a few repeats.
  const runs = await interleave(contenders, c.model === sd15 ? repeats : Math.max(repeats, 5), (line) => console.log(`  ${c.name} ${line}`));
  for (const list of Object.values(runs)) for (const out of list) delete out.seconds;
  const field = (name, key) => runs[name].map((o) => o[key]);
  const pick = (name, key) => median(field(name, key));
  const summary = {
    config: c.name,
    date: new Date().toISOString(),
    uptime: { before: configUptime, after: uptime() },
    width: c.width,
    height: c.height,
    steps: c.steps,
    warmupGenerations: c.warmup,
    repeats: runs.ours.length,
    scheduler: 'unipc',
    guidance: 7.5,
    stepMs: { raw: pick('raw', 'stepMs'), ours: pick('ours', 'stepMs'), optimum: pick('optimum', 'stepMs') },
    stepMeanMs: { raw: pick('raw', 'stepMeanMs'), ours: pick('ours', 'stepMeanMs'), optimum: pick('optimum', 'stepMeanMs') },
    wholeImageMs: { ours: pick('ours', 'wholeMs'), optimum: pick('optimum', 'wholeMs') },
    promptEncodingMs: { ours: pick('ours', 'headMs'), optimum: pick('optimum', 'headMs') },
    decodeAndEncodeMs: { ours: pick('ours', 'tailMs'), optimum: pick('optimum', 'tailMs') },
    peakRssMiB: { raw: pick('raw', 'peakRssMiB'), ours: pick('ours', 'peakRssMiB'), optimum: pick('optimum', 'peakRssMiB') },
    // Run by run: optimum's time / ours from the same repeat (> 1: ours is faster); the headline figures.
    pairedVsOptimum: {
      step: pairedRatios(field('ours', 'stepMs'), field('optimum', 'stepMs')),
      wholeImage: pairedRatios(field('ours', 'wholeMs'), field('optimum', 'wholeMs')),
    },
    // raw's step time / ours from the same repeat (< 1: ours costs more than the bare session run).
    pairedVsRaw: { step: pairedRatios(field('ours', 'stepMs'), field('raw', 'stepMs')) },
    runs,
  };
  summary.stepOverheadVsRaw = summary.stepMs.ours / summary.stepMs.raw - 1;
  summary.stepMeanOverheadVsRaw = summary.stepMeanMs.ours / summary.stepMeanMs.raw - 1;
  summary.stepOverheadVsRawPaired = median(runs.ours.map((o, i) => o.stepMs / runs.raw[i].stepMs)) - 1;
  // Ratios of the medians, kept for comparison with older results; the paired ratios above are the ones to quote.
  summary.speedupVsOptimum = { step: summary.stepMs.optimum / summary.stepMs.ours, wholeImage: summary.wholeImageMs.optimum / summary.wholeImageMs.ours };
  results.push(summary);
  const ratios = (r) => `${r.median.toFixed(3)}× (per repeat ${r.perRepeat.map((x) => x.toFixed(3)).join(' / ')})`;
  console.log(
    `${c.name}: vs optimum, paired: per step ${ratios(summary.pairedVsOptimum.step)}, whole image ${ratios(summary.pairedVsOptimum.wholeImage)}; ` +
      `step overhead vs raw ORT ${(summary.stepOverheadVsRawPaired * 100).toFixed(1)} % paired (median of medians ${(summary.stepOverheadVsRaw * 100).toFixed(1)} %, mean ${(summary.stepMeanOverheadVsRaw * 100).toFixed(1)} %)`,
  );
}

const versions = JSON.parse(
  run(python, ['-c', 'import json,sys,torch,diffusers,onnxruntime,optimum.onnxruntime as o; import importlib.metadata as m; print(json.dumps({"python": sys.version.split()[0], "torch": torch.__version__, "onnxruntimePython": onnxruntime.__version__, "diffusers": diffusers.__version__, "transformers": m.version("transformers"), "optimumOnnx": m.version("optimum-onnx")}))']),
);
const ortNode = JSON.parse(run(process.execPath, ['-e', 'console.log(JSON.stringify(require("onnxruntime-node/package.json").version))'], { cwd: join(ROOT, 'packages/inference') }));
const result = {
  benchmark: 'generation',
  date: new Date().toISOString(),
  command: `node tools/bench/generation/run.mjs ${process.argv.slice(2).join(' ')}`.trim(),
  machine: { ...machineInfo(), onnxruntimeNode: ortNode, ...versions, intraOpThreads: threads },
  uptime: { before: uptimeBefore, after: uptime() },
  notes: [
    'raw = bench-ts.mjs raw: onnxruntime-node InferenceSession on unet/model.onnx alone, in the main thread of its own process, same session options; each call gets freshly built input tensors (random sample [2, 4, h/8, w/8], scalar float32 timestep 500, random encoder_hidden_states [2, 77, hidden]) made before the clock starts; the timed region is one `await session.run(feeds)`; warmupGenerations x `steps` untimed warm-up runs, then `steps` timed ones; no text encoder, scheduler, guidance, VAE or worker thread',
    'ours = StableDiffusionPipeline.generate (UNet in a worker thread, scheduler and guidance in TS); step = gap between progress events on the main thread',
    'optimum = ORTStableDiffusionPipeline with UniPCMultistepScheduler, same export and thread count; step = gap between callback_on_step_end calls',
    'whole image = text encoding + all steps + VAE decode + PNG encode, after warmupGenerations warm-up generations of the same request (raw: warmupGenerations x steps session runs); results without warmupGenerations had one',
    'pairedVsOptimum: optimum / ours per repeat (contenders interleaved, order rotating); median, min, max; the headline ratio',
    'speedupVsOptimum: ratio of the medians over repeats, kept for comparison with older results',
    'results with carriedOver: true were not rerun in this run; their date and load are their own',
  ],
  repeats,
  results,
};
// Configs not run this time keep their last result (with its own date and machine load), so that a
// quick `--sizes tiny` run does not drop the SD-1.5 numbers that take many minutes to measure.
const resultsFile = join(ROOT, `tools/bench/results/${args.name}.json`);
if (existsSync(resultsFile)) {
  const previous = JSON.parse(readFileSync(resultsFile, 'utf8'));
  for (const old of previous.results ?? []) {
    if (results.some((r) => r.config === old.config)) continue;
    const carried = { ...old, date: old.date ?? previous.date, loadAverage1m: old.loadAverage1m ?? previous.machine?.loadAverage1m, carriedOver: true };
    // Results written before the paired ratios were recorded get them from their own runs.
    if (!carried.pairedVsOptimum && carried.runs) {
      const field = (name, key) => carried.runs[name].map((o) => o[key]);
      carried.pairedVsOptimum = { step: pairedRatios(field('ours', 'stepMs'), field('optimum', 'stepMs')), wholeImage: pairedRatios(field('ours', 'wholeMs'), field('optimum', 'wholeMs')) };
    }
    results.push(carried);
  }
}
writeResult(args.name, result);
