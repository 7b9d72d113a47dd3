// End-to-end embedding benchmark: JPEG bytes -> L2-normalised vectors through the embedding service, against
// (a) the raw ONNX Runtime session on pre-made tensors (the ceiling) and (b) the Python pipeline a user would
// write (Pillow + numpy + onnxruntime), same model, same images, same run. See README.md beside this file.
//
//   npx tsc -b packages/embedding-service/tsconfig.lib.json
//   npx tsx tools/bench/embedding/bench.ts [--images 1000] [--workers 1] [--intra 2] [--preprocess 2] [--batch 32]
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { loadProto } from '@select/contracts';
import { EmbeddingEngine, embeddingConfigSchema, scanModels, startEmbeddingServer } from '@select/embedding-service';
import { SessionPool, float32 } from '@select/inference';
import { createLogger, resolveConfig } from '@select/platform';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CACHE = join(ROOT, 'tools/bench/.cache/embedding');
const MODELS = join(CACHE, 'models');

const { values: args } = parseArgs({
  options: {
    images: { type: 'string', default: '1000' },
    workers: { type: 'string', default: '1' },
    intra: { type: 'string', default: String(availableParallelism()) },
    preprocess: { type: 'string', default: String(availableParallelism()) },
    batch: { type: 'string', default: '32' },
    'skip-python': { type: 'boolean', default: false },
    'skip-grpc': { type: 'boolean', default: false },
    spin: { type: 'boolean', default: false },
    'per-thread': { type: 'string', default: '2' },
    out: { type: 'string', default: join(ROOT, 'tools/bench/results/embedding.json') },
  },
});
const n = Number(args.images);
const workers = Number(args.workers);
const intra = Number(args.intra);
const preprocessThreads = Number(args.preprocess);
const batch = Number(args.batch);

// the service serves every directory under models/; prepare.py puts exactly this one there
const MODEL = 'clip-vit-b32';
const modelDir = join(MODELS, MODEL);

const files = readdirSync(join(CACHE, 'jpegs')).filter((f) => f.endsWith('.jpg')).sort().slice(0, n);
const jpegs = files.map((f) => readFileSync(join(CACHE, 'jpegs', f)));
const texts = (JSON.parse(readFileSync(join(CACHE, 'texts.json'), 'utf8')) as string[]).slice(0, n);
const mb = jpegs.reduce((s, b) => s + b.length, 0) / 1e6;
console.log(
  `${jpegs.length} JPEGs (${mb.toFixed(1)} MB), ${texts.length} texts; workers=${workers} intra=${intra} preprocess=${preprocessThreads} batch=${batch} spin=${args.spin} perThread=${args['per-thread']}`,
);

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

/** Run `count` tasks with at most `window` in flight. */
async function windowed(count: number, window: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(window, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

// (a) raw session ceiling: pre-made [batch, 3, 224, 224] tensors, one batch at a time, the session alone on the
// cores; measured with ONNX Runtime's default (spinning) and without, the better one counts
async function rawCeiling(allowSpinning: boolean): Promise<number> {
  const pool = await SessionPool.open({ vision: join(modelDir, 'onnx/vision_model.onnx') }, { workers: 1, intraOpThreads: intra, allowSpinning });
  const tensor = new Float32Array(batch * 3 * 224 * 224).map((_, i) => Math.sin(i) * 1.5);
  const run = () => pool.run('vision', { pixel_values: float32(tensor.slice(), [batch, 3, 224, 224]) }, ['image_embeds']);
  await run();
  const batches = Math.ceil(n / batch);
  const s = await timed(async () => {
    for (let i = 0; i < batches; i++) await run();
  });
  await pool.close();
  return (batches * batch) / s;
}

async function engineRun(): Promise<{ imagesPerS: number; textsPerS: number }> {
  const engine = await EmbeddingEngine.start(await scanModels(MODELS), {
    sessions: { workers, intraOpThreads: intra, allowSpinning: args.spin },
    preprocess: { threads: preprocessThreads, perThread: Number(args['per-thread']) },
    batching: { maxBatch: batch, maxWaitMs: 5, maxQueue: 1024 },
  });
  await Promise.all(jpegs.slice(0, batch).map((b) => engine.embedImage(MODEL, b)));
  const imageS = await timed(() => windowed(jpegs.length, 128, (i) => engine.embedImage(MODEL, jpegs[i]!)));
  await engine.embedTexts(MODEL, texts.slice(0, batch));
  const textS = await timed(() => windowed(Math.ceil(texts.length / 100), 4, (i) => engine.embedTexts(MODEL, texts.slice(i * 100, (i + 1) * 100))));
  await engine.close();
  return { imagesPerS: jpegs.length / imageS, textsPerS: texts.length / textS };
}

async function grpcRun(): Promise<number> {
  const config = resolveConfig(
    embeddingConfigSchema,
    { modelsDir: MODELS, port: 0, inferenceWorkers: workers, intraOpThreads: intra, preprocessThreads, maxBatch: batch, streamWindow: 128, publishJobEvents: false },
    {},
  );
  const running = await startEmbeddingServer(config, { logger: createLogger({ service: 'bench', level: 'warn' }) });
  const Service = loadProto('embedding').select.embedding.v1.EmbeddingService;
  const client = new Service(running.address, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': 64 << 20,
    'grpc.max_receive_message_length': 64 << 20,
  });
  const stream = (items: Buffer[]) =>
    new Promise<number>((resolve, reject) => {
      const call = client.embedImages();
      let received = 0;
      let failed = 0;
      call.on('data', (r: { error?: unknown }) => {
        received++;
        if (r.error) failed++;
      });
      call.on('error', reject);
      call.on('end', () => (failed ? reject(new Error(`${failed} items failed`)) : resolve(received)));
      void (async () => {
        for (const [i, image] of items.entries()) {
          if (!call.write({ itemId: String(i), image })) await new Promise((r) => call.once('drain', r));
        }
        call.end();
      })();
    });
  await stream(jpegs.slice(0, batch));
  const s = await timed(() => stream(jpegs));
  client.close();
  await running.close();
  return jpegs.length / s;
}

const rawSpin = await rawCeiling(true);
const rawNoSpin = await rawCeiling(false);
const raw = Math.max(rawSpin, rawNoSpin);
console.log(`raw ONNX Runtime session (pre-made tensors): ${raw.toFixed(1)} images/s (spinning ${rawSpin.toFixed(1)}, not ${rawNoSpin.toFixed(1)})`);
const eng = await engineRun();
console.log(`service engine, JPEG bytes -> vectors:       ${eng.imagesPerS.toFixed(1)} images/s, ${eng.textsPerS.toFixed(1)} texts/s`);
const viaGrpc = args['skip-grpc'] ? null : await grpcRun();
if (viaGrpc !== null) console.log(`service over gRPC (EmbedImages stream):      ${viaGrpc.toFixed(1)} images/s`);

let python: Record<string, number> | null = null;
if (!args['skip-python']) {
  const out = execFileSync(join(ROOT, 'tools/.venv/bin/python'), [join(ROOT, 'tools/bench/embedding/python_baseline.py'), '--threads', String(intra), '--batch', String(batch), '--images', String(n)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  python = JSON.parse(out.trim().split('\n').pop()!) as Record<string, number>;
  console.log(`python (Pillow + numpy + onnxruntime):       ${python['imagesPerS']!.toFixed(1)} images/s, ${python['textsPerS']!.toFixed(1)} texts/s`);
  console.log(`python raw session (pre-made tensors):       ${python['rawSessionImagesPerS']!.toFixed(1)} images/s`);
}

const best = viaGrpc ?? eng.imagesPerS;
const ratios = {
  imagesVsPython: python ? best / python['imagesPerS']! : null,
  imagesVsRawSession: best / raw,
  engineImagesVsPython: python ? eng.imagesPerS / python['imagesPerS']! : null,
  engineImagesVsRawSession: eng.imagesPerS / raw,
  textsVsPython: python ? eng.textsPerS / python['textsPerS']! : null,
};
console.log('ratios (targets: images >= 1.5x python, >= 0.7x raw session):');
for (const [k, v] of Object.entries(ratios)) console.log(`  ${k}: ${v === null ? 'n/a' : v.toFixed(2)}`);

const result = {
  benchmark: 'embedding',
  date: new Date().toISOString(),
  machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: availableParallelism(), memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
  model: 'CLIP ViT-B/32 architecture, random weights, HF split-tower ONNX (opset 17)',
  inputs: { images: jpegs.length, jpegMB: Number(mb.toFixed(1)), texts: texts.length },
  settings: { inferenceWorkers: workers, intraOpThreads: intra, preprocessThreads, maxBatch: batch, allowSpinning: args.spin, perThread: Number(args['per-thread']) },
  imagesPerS: { grpc: viaGrpc, engine: eng.imagesPerS, rawSession: raw, rawSessionSpinning: rawSpin, rawSessionNotSpinning: rawNoSpin, python: python?.['imagesPerS'] ?? null, pythonRawSession: python?.['rawSessionImagesPerS'] ?? null },
  textsPerS: { engine: eng.textsPerS, python: python?.['textsPerS'] ?? null },
  ratios,
};
mkdirSync(join(ROOT, 'tools/bench/results'), { recursive: true });
writeFileSync(args.out, JSON.stringify(result, null, 2) + '\n');
console.log(`wrote ${args.out}`);
