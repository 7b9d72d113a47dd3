// CLIP-score filtering benchmark: image-caption pairs scored the way the curator's clip-score step does
// it — the embedding service over gRPC (EmbedImages stream + EmbedTexts, one CLIP model, in the same
// pass), cosine per pair — against the best Python peer (onnxruntime + Pillow, preprocessing and
// tokenisation in a torch DataLoader's pool of prefetching worker processes: clip_score_peer.py pipeline)
// and the raw sessions on pre-made tensors (clip_score_peer.py raw: the ceiling), same model, pairs and
// session options, interleaved over repeats in the same run.
//
//   npx tsx tools/bench/curation/clip_score.ts [--pairs 10000] [--raw-pairs 2000] [--threads <cores>] [--batch 64]
//        [--in-flight 2] [--peer-batch 32] [--workers 2] [--repeats 1] [--skip-python]
//   smaller:  npx tsx tools/bench/curation/clip_score.ts --pairs 640 --raw-pairs 320
//
// Inputs (default; --models/--model/--jpegs/--texts point elsewhere): a CLIP ViT-B/32-architecture model with
// RANDOM weights (transformers' CLIP towers from a CLIPConfig at ViT-B/32 sizes, 49,408-token BPE vocabulary),
// 1,000 photo-sized JPEGs and 1,000 captions, written by `.work/py/bin/python tools/bench/embedding/prepare.py`
// under tools/bench/.cache/embedding (never committed); pair i is image i mod 1000 with caption i mod 1000.
// The raw-session rate is steady, so it is measured on --raw-pairs (default 2,000) to save time.
// Targets (issue): >= 1.05x the Python pipeline, >= 0.9x the raw sessions (pairs/s).
// Needs: npx tsc -b packages/embedding-service/tsconfig.lib.json packages/curation-filters/tsconfig.lib.json
// Results: tools/bench/results/clip-score.json.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { clipScores } from '@select/curation-filters';
import { embeddingConfigSchema, startEmbeddingServer } from '@select/embedding-service';
import { createGrpcClient, createLogger, loadProtoPackage, resolveConfig, unary, type GenericServiceClient } from '@select/platform';
// @ts-expect-error plain ESM module without types
import { ROOT, interleave, machineInfo, median, pairedRatios, peerEnv, projectPython, pythonBlasInfo, uptime, wholeOption, writeResult } from '../lib/bench-kit.mjs';

const uptimeBefore = uptime();
const CACHE = join(ROOT, 'tools', 'bench', '.cache', 'embedding');
const { values: flags } = parseArgs({
  options: {
    pairs: { type: 'string', default: '10000' },
    'raw-pairs': { type: 'string', default: '2000' },
    threads: { type: 'string', default: String(availableParallelism()) },
    batch: { type: 'string', default: '64' },
    'peer-batch': { type: 'string', default: '32' },
    workers: { type: 'string', default: '2' },
    'in-flight': { type: 'string', default: '2' },
    repeats: { type: 'string', default: '1' },
    'skip-python': { type: 'boolean', default: false },
    models: { type: 'string', default: join(CACHE, 'models') },
    model: { type: 'string', default: 'clip-vit-b32' },
    jpegs: { type: 'string', default: join(CACHE, 'jpegs') },
    texts: { type: 'string', default: join(CACHE, 'texts.json') },
  },
});
const PAIRS: number = wholeOption('pairs', flags.pairs);
const RAW_PAIRS = Math.min(PAIRS, wholeOption('raw-pairs', flags['raw-pairs']));
const BATCH: number = wholeOption('batch', flags.batch);
const THREADS: number = wholeOption('threads', flags.threads);
const REPEATS: number = wholeOption('repeats', flags.repeats);
const IN_FLIGHT: number = wholeOption('in-flight', flags['in-flight']);
const PEER_BATCH: number = wholeOption('peer-batch', flags['peer-batch']);
const WORKERS: number = wholeOption('workers', flags.workers);
const log = (...args: unknown[]): void => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...args);
const files = readdirSync(flags.jpegs).filter((f) => f.endsWith('.jpg')).sort();
const images = files.map((f) => readFileSync(join(flags.jpegs, f)));
const texts = JSON.parse(readFileSync(flags.texts, 'utf8')) as string[];
const python: string = projectPython();
const env = peerEnv(THREADS);

// --- the embedding service over gRPC, as the clip-score step calls it (started once, warmed up once)
const config = resolveConfig(embeddingConfigSchema, { modelsDir: flags.models, port: 0, host: '127.0.0.1', intraOpThreads: THREADS, publishJobEvents: false }, {});
const running = await startEmbeddingServer(config, { logger: createLogger({ service: 'bench', level: 'warn' }) });
const client = createGrpcClient(loadProtoPackage('select/embedding/v1/embedding.proto'), 'select.embedding.v1.EmbeddingService', running.address, { defaultDeadlineMs: 0 });
const model = flags.model;

async function embedImages(c: GenericServiceClient, batch: Buffer[]): Promise<Float32Array[]> {
  const out: Float32Array[] = new Array(batch.length);
  const call = (c as unknown as { EmbedImages(): NodeJS.ReadWriteStream }).EmbedImages();
  const done = new Promise<void>((resolve, reject) => {
    call.on('data', (r: { itemId: string; embedding?: { vector: number[] } }) => void (out[Number(r.itemId)] = Float32Array.from(r.embedding!.vector)));
    call.on('error', reject);
    call.on('end', resolve);
  });
  batch.forEach((image, i) => call.write({ itemId: String(i), model, image } as never));
  call.end();
  await done;
  return out;
}

async function scoreBatch(start: number): Promise<Float32Array> {
  const n = Math.min(BATCH, PAIRS - start);
  const imgs = Array.from({ length: n }, (_, i) => images[(start + i) % images.length]!);
  const caps = Array.from({ length: n }, (_, i) => texts[(start + i) % texts.length]!);
  const [iv, tv] = await Promise.all([
    embedImages(client, imgs),
    unary<{ embeddings: Array<{ vector: number[] }> }>(client, 'EmbedTexts', { model, texts: caps }).then((r) => r.embeddings.map((e) => Float32Array.from(e.vector))),
  ]);
  const dim = iv[0]!.length;
  const pack = (vs: Float32Array[]) => {
    const m = new Float32Array(vs.length * dim);
    vs.forEach((v, i) => m.set(v, i * dim));
    return { data: m, rows: vs.length, dim };
  };
  return clipScores(pack(iv), pack(tv));
}

await scoreBatch(0); // warm-up
const scores = new Float32Array(PAIRS);
type Run = { seconds: number; pairsPerS: number; [k: string]: unknown };
async function ours(): Promise<Run> {
  const t0 = performance.now();
  // batches in flight (--in-flight): decoding of the next overlaps inference of the current one inside the service
  const inFlight: Array<Promise<void>> = [];
  for (let start = 0; start < PAIRS; start += BATCH) {
    const s = start;
    inFlight.push(scoreBatch(s).then((v) => scores.set(v, s)));
    if (inFlight.length >= IN_FLIGHT) await inFlight.shift();
  }
  await Promise.all(inFlight);
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, pairsPerS: PAIRS / seconds };
}

const peerScoresFile = join(tmpdir(), `clip-score-peer-${process.pid}.f32`);
const peerArgs = ['--threads', String(THREADS), '--batch', String(PEER_BATCH), '--model-dir', join(flags.models, flags.model), '--jpegs', flags.jpegs, '--texts', flags.texts];
const peer = (mode: 'pipeline' | 'raw'): Run => {
  const extra = mode === 'pipeline' ? ['--pairs', String(PAIRS), '--workers', String(WORKERS), '--scores', peerScoresFile] : ['--pairs', String(RAW_PAIRS)];
  const out = execFileSync(python, [join(ROOT, 'tools/bench/curation/clip_score_peer.py'), mode, ...peerArgs, ...extra], { encoding: 'utf8', env, maxBuffer: 1 << 24 });
  return JSON.parse(out.trim().split('\n').at(-1)!) as Run;
};
const contenders: Record<string, () => Promise<Run>> = { ours };
if (!flags['skip-python']) {
  contenders['python'] = async () => peer('pipeline');
  contenders['raw-sessions'] = async () => peer('raw');
}
const runs = (await interleave(contenders, REPEATS, log)) as Record<string, Run[]>;
client.close();
await running.close();

const rate = (name: string): number[] => (runs[name] ?? []).map((r) => r.pairsPerS);
// paired ratios of rates (ours / peer): pairedRatios takes seconds per unit of work, so pass 1 / rate
const ratio = (name: string) => (runs[name] ? pairedRatios(rate('ours').map((r) => 1 / r), rate(name).map((r) => 1 / r)) : undefined);
let maxAbsScoreDifference: number | undefined;
if (runs['python']) {
  const b = readFileSync(peerScoresFile);
  const p = new Float32Array(b.buffer, b.byteOffset, PAIRS);
  maxAbsScoreDifference = 0;
  for (let i = 0; i < PAIRS; i++) maxAbsScoreDifference = Math.max(maxAbsScoreDifference, Math.abs(p[i]! - scores[i]!));
}
writeResult('clip-score', {
  benchmark: 'clip-score',
  when: new Date().toISOString(),
  machine: machineInfo(),
  uptimeBefore,
  uptimeAfter: uptime(),
  model: { name: model, dir: join(flags.models, model), weights: 'random (architecture only: CLIP ViT-B/32 sizes, tools/bench/embedding/prepare.py)' },
  settings: { pairs: PAIRS, rawPairs: RAW_PAIRS, batch: BATCH, inFlight: IN_FLIGHT, peerBatch: PEER_BATCH, workers: WORKERS, threads: THREADS, repeats: REPEATS },
  order: 'contenders interleaved, order rotating per repeat',
  peerBlas: flags['skip-python'] ? undefined : pythonBlasInfo(python, env, ['numpy', 'onnxruntime']),
  runs,
  medianPairsPerS: Object.fromEntries(Object.keys(runs).map((n) => [n, median(rate(n))])),
  pairedSpeedup: { 'vs python': ratio('python'), 'vs raw sessions': ratio('raw-sessions') },
  targets: 'ours >= 1.05x the Python pipeline, >= 0.9x the raw sessions (pairs/s)',
  maxAbsScoreDifference,
});
