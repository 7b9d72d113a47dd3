#!/usr/bin/env node
// vision-preprocess benchmark: CPU per image of CLIP preprocessing (decode, resize shortest edge 224 bicubic,
// center crop 224, rescale + normalise to a float32 CHW tensor) on the same real-size JPEGs, one image at a time
// on one thread, for
//   sharp+js      @select/vision before the native path: sharp/libvips decode + the TypeScript Pillow resample
//   native-exact  the addon: libjpeg-turbo decode + Pillow's resample + normalise in C (the default)
//   native-fast   the addon with libjpeg-turbo DCT scaling (mode 'fast')
//   pillow        Python: Image.open + convert + resize bicubic + crop + numpy normalise (the project's .work/py)
//   pillow-draft  the same after Image.draft (Pillow's DCT scaling, powers of two): the peer of 'fast'
// Contenders run one after another, interleaved over the repeats. Before timing it checks exactness on every
// image: native-exact tensors bit-identical to sharp+js, and equal to the tensors of Pillow's own uint8 crops;
// and, when the embedding bench model is there, the cosine between exact and fast ViT-B/32 vectors.
//
//   node tools/bench/vision/preprocess.mjs [--images 300] [--repeats 5] [--check-images 1000] [--variants 120] [--agreement 100] [--skip-check] [--name vision-preprocess]
//
// --images are timed; the exactness check covers --check-images (all of them by default), the cosine check the
// first --agreement.
//
// Images: tools/bench/.cache/embedding/jpegs (tools/bench/embedding/prepare.py: photo-like JPEGs, 500 px long
// side mostly, some up to 1024); without them, photo-like JPEGs are generated under tools/bench/.cache/vision.
// Results: tools/bench/results/vision-preprocess.json.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ROOT, interleave, machineInfo, median, pairedRatios, peerEnv, projectPython, resultName, uptime, wholeOption, writeResult } from '../lib/bench-kit.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    images: { type: 'string', default: '300' },
    repeats: { type: 'string', default: '5' },
    'check-images': { type: 'string', default: '1000' },
    variants: { type: 'string', default: '120' },
    agreement: { type: 'string', default: '100' },
    'skip-check': { type: 'boolean', default: false },
    name: { type: 'string', default: 'vision-preprocess' },
  },
});
const count = wholeOption('images', args.images);
const checkCount = Math.max(count, wholeOption('check-images', args['check-images']));
const repeats = wholeOption('repeats', args.repeats);
const variantCount = wholeOption('variants', args.variants);
const agreementCount = wholeOption('agreement', args.agreement);
resultName(args.name);
const loadBefore = uptime();

function run(command, commandArgs, options = {}) {
  return execFileSync(command, commandArgs, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 28, ...options });
}

// 1. The library under test, built the way other packages consume it (the addon, then dist/).
run(process.execPath, ['packages/vision/scripts/build-native.mjs']);
run(join(ROOT, 'node_modules/.bin/tsc'), ['-b', 'packages/vision/tsconfig.lib.json']);
const vision = await import('@select/vision');
const sharp = (await import('sharp')).default;
const { fromHfImageProcessorConfig, nativeJpegDecoder, preprocessImage, writeTensor } = vision;
if (!nativeJpegDecoder()) throw new Error('the preprocessing addon did not load');

// 2. The images.
const embeddingJpegs = join(ROOT, 'tools/bench/.cache/embedding/jpegs');
let dir = embeddingJpegs;
if (!existsSync(embeddingJpegs) || readdirSync(embeddingJpegs).length < checkCount) {
  dir = join(ROOT, 'tools/bench/.cache/vision/jpegs');
  mkdirSync(dir, { recursive: true });
  for (let i = readdirSync(dir).length; i < checkCount; i++) {
    const [w, h] = [[500, 375], [375, 500], [500, 333], [640, 480], [1024, 683]][i % 5];
    const raw = Buffer.alloc(w * h * 3);
    let s = i + 1;
    for (let p = 0; p < w * h; p++) {
      const x = (p % w) / w;
      const y = Math.floor(p / w) / h;
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const n = (s / 2 ** 32 - 0.5) * 24;
      raw[p * 3] = 128 + 100 * Math.sin(6 * x + i) * Math.cos(4 * y) + n;
      raw[p * 3 + 1] = 110 + 90 * Math.cos(5 * y + 3 * x + i) + n;
      raw[p * 3 + 2] = 90 + 80 * Math.sin(9 * x * y + i) + n;
    }
    writeFileSync(join(dir, `${String(i).padStart(4, '0')}.jpg`), await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 90 }).toBuffer());
  }
}
const allFiles = readdirSync(dir).filter((f) => f.endsWith('.jpg')).sort().slice(0, checkCount).map((f) => join(dir, f));
const checkJpegs = allFiles.map((f) => readFileSync(f));
const files = allFiles.slice(0, count);
const jpegs = checkJpegs.slice(0, count);
const sizes = jpegs.map(() => null);
for (const [i, b] of jpegs.entries()) {
  const m = await sharp(b).metadata();
  sizes[i] = `${m.width}x${m.height}`;
}
const sizeHistogram = Object.entries(sizes.reduce((h, s) => ({ ...h, [s]: (h[s] ?? 0) + 1 }), {})).sort((a, b) => b[1] - a[1]).slice(0, 8);
const listFile = join(ROOT, 'tools/bench/.cache/vision/files.txt');
const checkListFile = join(ROOT, 'tools/bench/.cache/vision/check-files.txt');
mkdirSync(dirname(listFile), { recursive: true });
writeFileSync(listFile, `${files.join('\n')}\n`);
const spec = fromHfImageProcessorConfig({
  size: { shortest_edge: 224 },
  crop_size: { height: 224, width: 224 },
  resample: 3,
  image_mean: [0.48145466, 0.4578275, 0.40821073],
  image_std: [0.26862954, 0.26130258, 0.27577711],
});
const python = projectPython();
const pyEnv = peerEnv(1);
const specArgs = ['--size', '224', '--crop', '224', '--mean', ...spec.mean.map(String), '--std', ...spec.std.map(String)];
const pyArgs = ['--list', listFile, ...specArgs];

// 3. Exactness and agreement, on every image.
const check = {};
const per = 224 * 224 * 3;
/** native-exact vs sharp+js, and vs Pillow's own uint8 crops normalised by writeTensor, image by image. */
async function exactness(paths, blobs, list) {
  let identical = 0;
  const pipelines = {};
  const tensors = [];
  for (const b of blobs) {
    const native = await preprocessImage(b, spec);
    const reference = await preprocessImage(b, spec, { decoder: 'sharp' });
    pipelines[native.pipeline] = (pipelines[native.pipeline] ?? 0) + 1;
    if (Buffer.from(native.tensor.buffer).equals(Buffer.from(reference.tensor.buffer))) identical++;
    tensors.push(native.tensor);
  }
  writeFileSync(list, `${paths.join('\n')}\n`);
  const dump = join(ROOT, 'tools/bench/.cache/vision/pillow-crops.u8');
  run(python, [join(here, 'preprocess_py.py'), '--list', list, ...specArgs, '--dump', dump], { env: pyEnv });
  const crops = readFileSync(dump);
  let pillowIdentical = 0;
  const t = new Float32Array(per);
  for (let i = 0; i < blobs.length; i++) {
    writeTensor({ data: new Uint8Array(crops.buffer, crops.byteOffset + i * per, per), width: 224, height: 224 }, spec, t);
    if (Buffer.from(t.buffer).equals(Buffer.from(tensors[i].buffer))) pillowIdentical++;
  }
  return { images: blobs.length, bitIdenticalToSharpJs: identical, bitIdenticalToPillow: pillowIdentical, pipelines, tensors };
}
if (!args['skip-check']) {
  const { tensors: exactTensors, ...benchSet } = await exactness(allFiles, checkJpegs, checkListFile);
  check.nativeExact = benchSet;
  // layouts the bench images do not have (4:4:4, 4:2:2, progressive, restart markers, grey, odd sizes), written by Pillow
  const variantsDir = join(ROOT, 'tools/bench/.cache/vision/variants');
  if (variantCount > 0) {
    if (!existsSync(variantsDir) || readdirSync(variantsDir).length < variantCount) {
      run(python, [join(here, 'preprocess_py.py'), '--make-variants', variantsDir, '--count', String(variantCount)], { env: pyEnv });
    }
    const paths = readdirSync(variantsDir).filter((f) => f.endsWith('.jpg')).sort().slice(0, variantCount).map((f) => join(variantsDir, f));
    const { tensors: _unused, ...variantSet } = await exactness(paths, paths.map((f) => readFileSync(f)), join(ROOT, 'tools/bench/.cache/vision/variant-files.txt'));
    check.nativeExactLayouts = { ...variantSet, writtenBy: 'preprocess_py.py --make-variants (Pillow): 4:4:4/4:2:2/4:2:0, progressive, restart markers, optimised tables, grey, 10 sizes from 97x61 to 1200x90 and 257x1031' };
  }
  // fast vs exact: input differences, and vectors of the embedding bench model (ViT-B/32, random weights)
  let maxAbs = 0;
  let sumAbs = 0;
  let n = 0;
  const fastTensors = [];
  for (const [i, b] of checkJpegs.entries()) {
    const fast = (await preprocessImage(b, spec, { mode: 'fast' })).tensor;
    fastTensors.push(fast);
    for (let j = 0; j < fast.length; j++) {
      const d = Math.abs(fast[j] - exactTensors[i][j]);
      maxAbs = Math.max(maxAbs, d);
      sumAbs += d;
      n++;
    }
  }
  // one 8-bit level is 1/255/std in tensor units: report the differences in levels of the green channel's scale
  const level = 1 / 255 / spec.std[1];
  check.fastVsExactInput = { images: checkJpegs.length, meanAbsLevels: sumAbs / n / level, maxAbsLevels: maxAbs / level };
  const model = join(ROOT, 'tools/bench/.cache/embedding/models/clip-vit-b32/onnx/vision_model.onnx');
  const m = Math.min(agreementCount, checkJpegs.length);
  if (m > 0 && existsSync(model)) {
    const { SessionPool, float32 } = await import('@select/inference');
    const sessions = await SessionPool.open({ vision: model }, { workers: 1 });
    const embed = async (tensors) => {
      const vectors = [];
      for (let i = 0; i < m; i += 16) {
        const part = tensors.slice(i, Math.min(m, i + 16));
        const batch = new Float32Array(part.length * per);
        part.forEach((x, k) => batch.set(x, k * per));
        const out = await sessions.run('vision', { pixel_values: float32(batch, [part.length, 3, 224, 224]) }, ['image_embeds']);
        const data = out.image_embeds.data;
        const dim = data.length / part.length;
        for (let k = 0; k < part.length; k++) vectors.push(data.subarray(k * dim, (k + 1) * dim));
      }
      return vectors;
    };
    const a = await embed(exactTensors);
    const b = await embed(fastTensors);
    await sessions.close();
    const cos = a.map((x, i) => {
      let dot = 0;
      let na = 0;
      let nb = 0;
      for (let j = 0; j < x.length; j++) {
        dot += x[j] * b[i][j];
        na += x[j] * x[j];
        nb += b[i][j] * b[i][j];
      }
      return dot / Math.sqrt(na * nb);
    });
    check.fastVsExactCosine = {
      model: 'tools/bench/.cache/embedding clip-vit-b32 (ViT-B/32 architecture, random weights)',
      images: m,
      min: Math.min(...cos),
      median: median(cos),
      mean: cos.reduce((s, x) => s + x, 0) / m,
    };
  }
  console.error(`[bench] check: ${JSON.stringify(check)}`);
}

// 4. Timing: one pass over all images per contender and repeat, CPU of the whole process (libvips' threads too).
async function timeNode(options) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (const b of jpegs) await preprocessImage(b, spec, options);
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { seconds: (cpu.user + cpu.system) / 1e6, wall };
}
function timePython(draft) {
  const out = JSON.parse(run(python, [join(here, 'preprocess_py.py'), ...pyArgs, ...(draft ? ['--draft'] : [])], { env: pyEnv }).trim().split('\n').pop());
  return { seconds: out.cpu, wall: out.wall };
}
const contenders = {
  'sharp+js': () => timeNode({ decoder: 'sharp' }),
  'native-exact': () => timeNode({}),
  'native-fast': () => timeNode({ mode: 'fast' }),
  pillow: async () => timePython(false),
  'pillow-draft': async () => timePython(true),
};
// warm-up: JIT and libvips' first-use costs
for (const options of [{ decoder: 'sharp' }, {}, { mode: 'fast' }]) for (const b of jpegs.slice(0, 30)) await preprocessImage(b, spec, options);
const runs = await interleave(contenders, repeats);
const perImageUs = (name) => runs[name].map((r) => (r.seconds / jpegs.length) * 1e6);
const summary = Object.fromEntries(
  Object.keys(contenders).map((name) => [
    name,
    {
      cpuUsPerImage: median(perImageUs(name)),
      cpuUsPerImageRuns: perImageUs(name).map((x) => Math.round(x)),
      wallUsPerImage: median(runs[name].map((r) => (r.wall / jpegs.length) * 1e6)),
    },
  ]),
);
const seconds = (name) => runs[name].map((r) => r.seconds);
const result = {
  benchmark: 'vision-preprocess',
  what: 'CPU per image of CLIP preprocessing (decode, shortest edge 224 bicubic, center crop 224, normalise to float32 CHW), one image at a time on one thread',
  machine: machineInfo(),
  loadBefore,
  loadAfter: uptime(),
  libjpeg: nativeJpegDecoder(),
  sharp: { sharp: sharp.versions.sharp, vips: sharp.versions.vips, mozjpeg: sharp.versions.mozjpeg },
  pillow: run(python, ['-c', 'import PIL, numpy; print(PIL.__version__, numpy.__version__)'], { env: pyEnv }).trim(),
  images: { count: jpegs.length, dir: dir.replace(ROOT, ''), sizes: sizeHistogram },
  repeats,
  check,
  summary,
  // CPU-time ratios, paired by repeat: > 1 means the first named is cheaper
  ratios: {
    nativeExactVsSharpJs: pairedRatios(seconds('native-exact'), seconds('sharp+js')),
    nativeExactVsPillow: pairedRatios(seconds('native-exact'), seconds('pillow')),
    nativeFastVsNativeExact: pairedRatios(seconds('native-fast'), seconds('native-exact')),
    nativeFastVsPillowDraft: pairedRatios(seconds('native-fast'), seconds('pillow-draft')),
  },
};
writeResult(args.name, result);
