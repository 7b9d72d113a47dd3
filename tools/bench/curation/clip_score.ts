// CLIP-score filtering benchmark: image-caption pairs scored the way the curator's clip-score step does
// it — the embedding service over gRPC (EmbedImages stream + EmbedTexts, one CLIP model, in the same
// pass), cosine per pair — against the Python peer (onnxruntime + Pillow with overlapped preprocessing,
// clip_score_peer.py) and the raw sessions on pre-made tensors, same model, pairs and threads, same run.
//
//   npx tsx tools/bench/curation/clip_score.ts [--pairs 10000] [--threads 2] [--batch 64] [--skip-python]
//
// Inputs (default; --models/--model/--jpegs/--texts point elsewhere): the embedding benchmark's ViT-B/32-architecture model (random weights), 1,000 JPEGs and 1,000
// captions (`tools/.venv/bin/python tools/bench/embedding/prepare.py`); pair i is image i mod 1000 with
// caption i mod 1000. Targets (issue): >= 1.05x the Python peer, >= 0.9x the raw sessions.
// Needs: npx tsc -b packages/embedding-service/tsconfig.lib.json packages/curation-filters/tsconfig.lib.json
// Results: tools/bench/results/clip-score.json.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { clipScores } from '@select/curation-filters';
import { embeddingConfigSchema, startEmbeddingServer } from '@select/embedding-service';
import { createGrpcClient, createLogger, loadProtoPackage, resolveConfig, unary, type GenericServiceClient } from '@select/platform';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CACHE = join(ROOT, 'tools', 'bench', '.cache', 'embedding');
const { values: flags } = parseArgs({
  options: {
    pairs: { type: 'string', default: '10000' },
    threads: { type: 'string', default: '2' },
    batch: { type: 'string', default: '64' },
    'skip-python': { type: 'boolean', default: false },
    python: { type: 'string', default: join(ROOT, '.work', 'py', 'bin', 'python') },
    models: { type: 'string', default: join(CACHE, 'models') },
    model: { type: 'string', default: 'clip-vit-b32' },
    jpegs: { type: 'string', default: join(CACHE, 'jpegs') },
    texts: { type: 'string', default: join(CACHE, 'texts.json') },
    out: { type: 'string', default: join(ROOT, 'tools', 'bench', 'results', 'clip-score.json') },
  },
});
const PAIRS = Number(flags.pairs);
const BATCH = Number(flags.batch);
const loadStart = loadavg();
const files = readdirSync(flags.jpegs).filter((f) => f.endsWith('.jpg')).sort();
const images = files.map((f) => readFileSync(join(flags.jpegs, f)));
const texts = JSON.parse(readFileSync(flags.texts, 'utf8')) as string[];

// --- Python peer first (it does not share the machine with the service)
let peer: { pairsPerS: number; rawSessionsPairsPerS: number; versions: Record<string, string> } | undefined;
const peerScoresFile = join(tmpdir(), 'clip-score-peer.f32');
if (!flags['skip-python']) {
  const peerArgs = ['--pairs', String(PAIRS), '--threads', flags.threads, '--scores', peerScoresFile, '--model-dir', join(flags.models, flags.model), '--jpegs', flags.jpegs, '--texts', flags.texts];
  const out = execFileSync(flags.python, [join(ROOT, 'tools/bench/curation/clip_score_peer.py'), ...peerArgs], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  peer = JSON.parse(out.trim().split('\n').at(-1)!);
  console.log(`python (onnxruntime + Pillow, overlapped): ${peer!.pairsPerS.toFixed(2)} pairs/s; raw sessions ${peer!.rawSessionsPairsPerS.toFixed(2)} pairs/s`);
}

// --- the embedding service over gRPC, as the clip-score step calls it
const config = resolveConfig(embeddingConfigSchema, { modelsDir: flags.models, port: 0, host: '127.0.0.1', intraOpThreads: Number(flags.threads), publishJobEvents: false }, {});
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
const t0 = performance.now();
// two batches in flight: decoding of the next overlaps inference of the current one inside the service
const inFlight: Array<Promise<void>> = [];
for (let start = 0; start < PAIRS; start += BATCH) {
  const s = start;
  inFlight.push(scoreBatch(s).then((v) => scores.set(v, s)));
  if (inFlight.length >= 2) await inFlight.shift();
}
await Promise.all(inFlight);
const seconds = (performance.now() - t0) / 1000;
const ours = PAIRS / seconds;
client.close();
await running.close();
console.log(`embedding service over gRPC + clip score: ${ours.toFixed(2)} pairs/s`);

let maxAbsDiff: number | undefined;
if (peer) {
  const b = readFileSync(peerScoresFile);
  const p = new Float32Array(b.buffer, b.byteOffset, PAIRS);
  maxAbsDiff = 0;
  for (let i = 0; i < PAIRS; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(p[i]! - scores[i]!));
  console.log(`ratios: ${(ours / peer.pairsPerS).toFixed(3)}x Python (target 1.05), ${(ours / peer.rawSessionsPairsPerS).toFixed(3)}x raw sessions (target 0.9); max |score difference| ${maxAbsDiff.toExponential(2)}`);
}
mkdirSync(join(ROOT, 'tools', 'bench', 'results'), { recursive: true });
writeFileSync(
  flags.out,
  `${JSON.stringify(
    {
      benchmark: 'clip-score',
      when: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, loadavgStart: loadStart, loadavgEnd: loadavg() },
      settings: { pairs: PAIRS, batch: BATCH, threads: Number(flags.threads), model },
      ours: { pairsPerS: ours, seconds },
      peer,
      ratios: peer ? { python: ours / peer.pairsPerS, rawSessions: ours / peer.rawSessionsPairsPerS } : undefined,
      maxAbsScoreDifference: maxAbsDiff,
    },
    null,
    2,
  )}\n`,
);
