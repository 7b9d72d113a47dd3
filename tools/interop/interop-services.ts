// The services the reflection interop test starts, one entry each: how to start it on port 0 (its own
// src/main.ts, configured by environment as a user would), what reflection must list, and one unary and one
// server-streaming call with a check on the answer. Adding a service (curator, trainer, evaluator) is one
// more entry.
import { copyFileSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ShiftWriter, writeNpy } from '@select/datasets';
import { parquetWriteFile } from 'hyparquet-writer';
import sharp from 'sharp';
import { expect } from 'vitest';
import type { Json } from './interop-clients.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const EMBEDDING_MODELS = join(REPO, 'tools/fixtures/embedding/models');
const FIXTURE_IMAGES = join(REPO, 'tools/fixtures/embedding/images');
const TINY_SD = join(REPO, 'tools/fixtures/tiny-sd/model');
/** tiny-clip's projection width (tools/fixtures/embedding/README.md). */
const TINY_CLIP_DIMENSION = 16;

/** What the entries share: a scratch directory, the Kafka topic prefix and ClickHouse database of this run. */
export interface InteropWorld {
  dir: string;
  brokers: string[];
  topicPrefix: string;
  database: string;
  /** Starts a job by reflection (grpcurl) and returns its JobStatus. */
  startJob(address: string, method: string, request: Json): Promise<Json>;
}

export interface Probe {
  method: string;
  /** The request; may start whatever the call needs first (a job to watch). */
  request(world: InteropWorld, address: string): Json | Promise<Json>;
  /** Read this many messages of a stream that never ends by itself (health Watch). */
  maxResponses?: number;
  /** Asserts on the answers (the same for every client). */
  check(responses: Json[], world: InteropWorld): void;
}

export interface InteropService {
  name: string;
  /** Directory (under the repository) whose src/main.ts starts the service. */
  packageDir: string;
  env(world: InteropWorld): Record<string, string>;
  /** Services reflection lists (grpc.health.v1.Health is always listed too); the first is described and called. */
  services: string[];
  /** Import name of the file declaring services[0], and the files it imports. */
  file: string;
  dependencies: string[];
  /** A doc comment of the proto that `grpcurl describe <service>` must print (comments travel with reflection). */
  describedComment?: string;
  unary: Probe;
  stream: Probe;
}

function jobState(responses: Json[]): unknown {
  return responses.at(-1)?.['state'];
}

/**
 * A clip-retrieval folder (metadata/metadata_0.parquet + img_emb/img_emb_0.npy) of `rows` unit vectors, as
 * clip-retrieval writes it for an image-text pool (BulkLoad's reader wants a caption per row).
 */
async function writeClipRetrievalFolder(root: string, rows: number): Promise<string> {
  for (const sub of ['metadata', 'img_emb']) mkdirSync(join(root, sub), { recursive: true });
  const flat = new Float32Array(rows * TINY_CLIP_DIMENSION);
  for (let r = 0; r < rows; r++) flat[r * TINY_CLIP_DIMENSION + r] = 1;
  await writeNpy(join(root, 'img_emb', 'img_emb_0.npy'), flat, { dim: TINY_CLIP_DIMENSION });
  const keys = Array.from({ length: rows }, (_, r) => `key${r}`);
  parquetWriteFile({
    filename: join(root, 'metadata', 'metadata_0.parquet'),
    columnData: [
      { name: 'image_path', data: keys.map((k) => `images/${k}.jpg`), type: 'STRING' },
      { name: 'caption', data: keys.map((k) => `a photo of ${k}`), type: 'STRING' },
      { name: 'key', data: keys, type: 'STRING' },
    ],
  });
  return root;
}

const TINY_CLASSIFIER = join(REPO, 'packages/evaluator-service/test/fixtures/tiny-classifier');
const TINY_EVAL_ID = 'interop-tiny';

/**
 * Starts (or finds: the same request is the same job) an evaluation of the evaluator's tiny colour classifier
 * on three solid-colour images and waits, by GetJob over grpcurl, until it finished. Its JobStatus.
 */
async function tinyEvaluation(world: InteropWorld, address: string): Promise<Json> {
  const set = join(world.dir, 'eval-set');
  const images: Array<[string, [number, number, number]]> = [
    ['n01440764', [220, 20, 20]],
    ['n01443537', [20, 220, 20]],
    ['n01484850', [20, 20, 220]],
  ];
  for (const [wnid, [r, g, b]] of images) {
    mkdirSync(join(set, wnid), { recursive: true });
    await sharp({ create: { width: 40, height: 32, channels: 3, background: { r, g, b } } }).png().toFile(join(set, wnid, '0000.png'));
  }
  let status = await world.startJob(address, 'select.evaluator.v1.EvaluatorService/EvaluateModel', {
    evalId: TINY_EVAL_ID,
    checkpointUri: TINY_CLASSIFIER,
    sets: [{ name: 'imagenet-val', uri: set, format: 'imagefolder' }],
  });
  const deadline = Date.now() + 60_000;
  while (status['state'] === 'JOB_STATE_QUEUED' || status['state'] === 'JOB_STATE_RUNNING' || status['state'] === undefined) {
    if (Date.now() > deadline) throw new Error(`the tiny evaluation did not finish in 60 s: ${JSON.stringify(status)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    status = await world.startJob(address, 'select.evaluator.v1.EvaluatorService/GetJob', { jobId: TINY_EVAL_ID });
  }
  return status;
}

/** An openclipart-layout SVG whose title is `title` (the caption the substring match reads). */
function writeSvg(file: string, title: string): void {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(
    file,
    `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:cc="http://creativecommons.org/ns#" xmlns:dc="http://purl.org/dc/elements/1.1/" width="64" height="48">
<metadata><rdf:RDF><cc:Work><dc:title>${title}</dc:title></cc:Work></rdf:RDF></metadata>
<rect x="4" y="4" width="30" height="30" fill="hsl(120,70%,50%)"/>
</svg>
`,
  );
}

/** The PNG header's width and height. */
function pngSize(base64: unknown): { width: number; height: number } {
  const bytes = Buffer.from(String(base64), 'base64');
  expect(bytes.subarray(1, 4).toString('latin1')).toBe('PNG');
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

export const INTEROP_SERVICES: InteropService[] = [
  {
    name: 'embedding',
    packageDir: 'packages/embedding-service',
    env: (world) => ({
      EMBEDDING_PORT: '0',
      EMBEDDING_MODELS_DIR: EMBEDDING_MODELS,
      EMBEDDING_DEFAULT_MODEL: 'tiny-clip',
      EMBEDDING_JOBS_DIR: join(world.dir, 'embedding-jobs'),
      EMBEDDING_PUBLISH_JOB_EVENTS: 'false',
      EMBEDDING_INTRA_OP_THREADS: '1',
    }),
    services: ['select.embedding.v1.EmbeddingService'],
    file: 'select/embedding/v1/embedding.proto',
    dependencies: ['select/common/v1/common.proto'],
    describedComment: '// A bad item comes back as an error for that item; the stream goes on.',
    unary: {
      method: 'select.embedding.v1.EmbeddingService/EmbedTexts',
      request: () => ({ model: 'tiny-clip', texts: ['a photo of a dog', 'a photo of a cat'] }),
      check(responses) {
        const embeddings = responses[0]?.['embeddings'] as { vector: number[]; tokenCount: number }[];
        expect(embeddings).toHaveLength(2);
        for (const e of embeddings) {
          expect(e.vector).toHaveLength(TINY_CLIP_DIMENSION);
          expect(Math.hypot(...e.vector)).toBeCloseTo(1, 4); // L2-normalised
          expect(e.tokenCount).toBeGreaterThan(2);
        }
      },
    },
    stream: {
      method: 'select.embedding.v1.EmbeddingService/WatchJob',
      async request(world, address) {
        // An imagefolder pool of three fixture images in one class; the job writes a clip-retrieval folder.
        const pool = join(world.dir, 'pool');
        mkdirSync(join(pool, 'n02099601'), { recursive: true });
        for (const image of ['landscape.jpg', 'grayscale.jpg', 'odd-portrait.png']) copyFileSync(join(FIXTURE_IMAGES, image), join(pool, 'n02099601', image));
        const output = join(world.dir, 'clip');
        const job = await world.startJob(address, 'select.embedding.v1.EmbeddingService/StartEmbedDataset', {
          model: 'tiny-clip',
          inputUri: pool,
          inputFormat: 'imagefolder',
          outputUri: output,
          embedImages: true,
        });
        return { jobId: job['jobId'] };
      },
      check(responses) {
        expect(jobState(responses)).toBe('JOB_STATE_SUCCEEDED');
        expect(responses.at(-1)).toMatchObject({ kind: 'embed-dataset', done: '3' });
      },
    },
  },
  {
    name: 'retrieval',
    packageDir: 'packages/retrieval-service',
    env: (world) => ({ RETRIEVAL_PORT: '0', RETRIEVAL_DATA_DIR: join(world.dir, 'retrieval') }),
    services: ['select.retrieval.v1.RetrievalService'],
    file: 'select/retrieval/v1/retrieval.proto',
    dependencies: ['select/common/v1/common.proto'],
    describedComment: '// Client stream of (id, vector, metadata). Duplicate ids replace the earlier vector (upsert).',
    unary: {
      method: 'select.retrieval.v1.RetrievalService/CreateIndex',
      // Each client creates its own index: the name carries a counter.
      request: () => ({ name: `interop-${(indexCounter += 1)}`, dimension: TINY_CLIP_DIMENSION, metric: 'METRIC_COSINE' }),
      check(responses) {
        expect(responses[0]).toMatchObject({ dimension: TINY_CLIP_DIMENSION, metric: 'METRIC_COSINE' });
        expect(String(responses[0]?.['name'])).toMatch(/^interop-\d+$/);
      },
    },
    stream: {
      method: 'select.retrieval.v1.RetrievalService/WatchJob',
      async request(world, address) {
        const clipFolder = await writeClipRetrievalFolder(join(world.dir, `clip-${(indexCounter += 1)}`), 3);
        const index = `bulk-${(indexCounter += 1)}`;
        await world.startJob(address, 'select.retrieval.v1.RetrievalService/CreateIndex', { name: index, dimension: TINY_CLIP_DIMENSION, metric: 'METRIC_COSINE' });
        const job = await world.startJob(address, 'select.retrieval.v1.RetrievalService/BulkLoad', { index, inputUri: clipFolder, embeddings: 'img_emb', idColumn: 'key' });
        return { jobId: job['jobId'] };
      },
      check(responses) {
        expect(jobState(responses)).toBe('JOB_STATE_SUCCEEDED');
        expect(responses.at(-1)).toMatchObject({ kind: 'bulk-load', done: '3' });
      },
    },
  },
  {
    name: 'generation',
    packageDir: 'packages/generation-service',
    env: (world) => {
      const models = join(world.dir, 'generation-models');
      mkdirSync(models, { recursive: true });
      if (!existsSync(join(models, 'tiny-sd'))) symlinkSync(TINY_SD, join(models, 'tiny-sd'));
      return {
        GENERATION_PORT: '0',
        GENERATION_MODELS_DIR: models,
        GENERATION_JOBS_DIR: join(world.dir, 'generation-jobs'),
        GENERATION_PUBLISH_JOB_EVENTS: 'false',
        GENERATION_INTRA_OP_THREADS: '1',
      };
    },
    services: ['select.generation.v1.GenerationService'],
    file: 'select/generation/v1/generation.proto',
    dependencies: ['select/common/v1/common.proto'],
    unary: {
      method: 'select.generation.v1.GenerationService/ListModels',
      request: () => ({}),
      check(responses) {
        const models = responses[0]?.['models'] as { name: string; pipeline: string }[];
        expect(models).toEqual([expect.objectContaining({ name: 'tiny-sd', pipeline: 'text-to-image' })]);
      },
    },
    stream: {
      method: 'select.generation.v1.GenerationService/TextToImage',
      request: () => ({ prompt: 'a photo of a golden retriever', sampling: { model: 'tiny-sd', width: 64, height: 64, steps: 2, seeds: ['7'] } }),
      check(responses) {
        const progress = responses.filter((r) => r['progress']);
        const images = responses.map((r) => r['image'] as Json | undefined).filter((i) => i !== undefined);
        expect(progress.length).toBeGreaterThanOrEqual(1);
        expect(images).toHaveLength(1);
        expect(images[0]).toMatchObject({ seed: '7', mimeType: 'image/png' });
        expect(pngSize(images[0]?.['image'])).toEqual({ width: 64, height: 64 });
      },
    },
  },
  {
    name: 'curator',
    packageDir: 'packages/curator',
    env: (world) => ({
      CURATOR_PORT: '0',
      CURATOR_DATA_DIR: join(world.dir, 'curator'),
      KAFKA_BROKERS: world.brokers.join(','),
      CURATOR_KAFKA_TOPIC_PREFIX: world.topicPrefix,
      CURATOR_WORKER_GROUP: `${world.topicPrefix}curator-workers`,
      CURATOR_LOCAL_WORKERS: '1',
      CURATOR_WORKER_SESSION_TIMEOUT_MS: '6000',
      CURATOR_PROGRESS_INTERVAL_MS: '100',
    }),
    services: ['select.curation.v1.CuratorService'],
    file: 'select/curation/v1/curation.proto',
    dependencies: ['select/common/v1/common.proto'],
    unary: {
      method: 'select.curation.v1.CuratorService/ListStrategies',
      request: () => ({}),
      check(responses) {
        const strategies = responses[0]?.['strategies'] as { name: string; role: string }[];
        expect(strategies).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'substring-match', role: 'strategy' })]));
      },
    },
    stream: {
      method: 'select.curation.v1.CuratorService/WatchJob',
      async request(world, address) {
        // A dry run of strategy 2 (caption substring match) over three openclipart-layout SVGs.
        const pool = join(world.dir, 'clipart');
        writeSvg(join(pool, 'animals', 'tench.svg'), 'a tench in a lake');
        writeSvg(join(pool, 'animals', 'goldfish.svg'), 'goldfish');
        writeSvg(join(pool, 'misc', 'shape.svg'), 'abstract shape');
        const job = await world.startJob(address, 'select.curation.v1.CuratorService/StartCuration', {
          shiftName: 'interop-substring',
          pool: { uri: pool, format: 'openclipart', name: 'interop-clipart' },
          steps: [{ name: 'substring-match', paramsJson: '{}' }],
          dryRun: true,
          taskSize: 3,
        });
        return { jobId: job['jobId'] };
      },
      check(responses) {
        expect(jobState(responses)).toBe('JOB_STATE_SUCCEEDED');
        expect(responses.at(-1)).toMatchObject({ done: '3', total: '3' });
      },
    },
  },
  {
    name: 'evaluator',
    packageDir: 'packages/evaluator-service',
    env: (world) => ({
      EVALUATOR_PORT: '0',
      EVALUATOR_DATA_DIR: join(world.dir, 'evaluator'),
      KAFKA_BROKERS: world.brokers.join(','),
      EVALUATOR_KAFKA_TOPIC_PREFIX: world.topicPrefix,
      CLICKHOUSE_DATABASE: world.database,
      EVALUATOR_THREADS: '1',
    }),
    services: ['select.evaluator.v1.EvaluatorService'],
    file: 'select/evaluator/v1/evaluator.proto',
    dependencies: ['select/common/v1/common.proto'],
    unary: {
      method: 'select.evaluator.v1.EvaluatorService/GetResults',
      async request(world, address) {
        await tinyEvaluation(world, address);
        return { evalId: TINY_EVAL_ID };
      },
      check(responses) {
        const scores = responses[0]?.['scores'] as { metric: string; value: number; numSamples: string }[];
        // Three solid-colour images the tiny classifier gets right: red tench, green goldfish, blue shark.
        expect(scores.find((s) => s.metric === 'top1')).toMatchObject({ value: 100, numSamples: '3' });
      },
    },
    stream: {
      method: 'select.evaluator.v1.EvaluatorService/WatchJob',
      async request(world, address) {
        return { jobId: (await tinyEvaluation(world, address))['jobId'] };
      },
      check(responses) {
        expect(jobState(responses)).toBe('JOB_STATE_SUCCEEDED');
        expect(String(responses.at(-1)?.['message'])).toMatch(/top-1 100\.00 on 3 images/);
      },
    },
  },
  {
    name: 'trainer',
    packageDir: 'packages/trainer-service',
    env: (world) => ({
      TRAINER_PORT: '0',
      TRAINER_RUNS_DIR: join(world.dir, 'trainer-runs'),
      TRAINER_PYTHON: join(REPO, '.work/py/bin/python'),
      TRAINER_TORCH_THREADS: '1',
      TRAINER_PUBLISH_EVENTS: 'false',
      TRAINER_KAFKA_TOPIC_PREFIX: world.topicPrefix,
    }),
    services: ['select.trainer.v1.TrainerService'],
    file: 'select/trainer/v1/trainer.proto',
    dependencies: ['select/common/v1/common.proto'],
    unary: {
      method: 'select.trainer.v1.TrainerService/ListRecipes',
      request: () => ({}),
      check(responses) {
        const recipes = responses[0]?.['recipes'] as { name: string }[];
        expect(recipes.map((r) => r.name)).toEqual(expect.arrayContaining(['select', 'cpu-tiny']));
      },
    },
    stream: {
      method: 'select.trainer.v1.TrainerService/WatchRun',
      async request(world, address) {
        // One epoch of timm's test_resnet at 32 px (the cpu-tiny recipe) on a two-class shift of 24 images.
        const shift = join(world.dir, 'trainer-shift');
        if (!existsSync(join(shift, '_info.json'))) {
          const writer = await ShiftWriter.open(shift, { name: 'interop-shift', strategy: 'interop-test', classes: ['n01440764', 'n01443537'], maxSamplesPerShard: 6 });
          for (let i = 0; i < 12; i++) {
            for (const [c, [r, g, b]] of [[0, [220, 40, 40]], [1, [40, 70, 220]]] as const) {
              const image = await sharp({ create: { width: 40, height: 40, channels: 3, background: { r: r + i, g, b } } }).png().toBuffer();
              await writer.add({ sourceId: `interop/${c}/${i}`, classIndex: c, image });
            }
          }
          await writer.close();
        }
        await world.startJob(address, 'select.trainer.v1.TrainerService/StartTraining', {
          runId: 'interop-run',
          shiftUri: shift,
          numClasses: 2,
          backend: 'timm',
          recipeName: 'cpu-tiny',
          recipe: { epochs: 1 },
          valFraction: 0.25,
        });
        return { runId: 'interop-run' };
      },
      check(responses) {
        // The first client watches the run train, the second (after it finished) gets the finished run: the
        // same request is the same run. Either way the stream ends with the run done after its one epoch.
        const last = responses.at(-1)?.['run'] as Json | undefined;
        expect(last).toMatchObject({ runId: 'interop-run', state: 'JOB_STATE_SUCCEEDED', epoch: 1, epochs: 1 });
      },
    },
  },
  {
    name: 'metrics-sink',
    packageDir: 'packages/metrics-sink',
    env: (world) => ({
      METRICS_SINK_PORT: '0',
      KAFKA_BROKERS: world.brokers.join(','),
      KAFKA_TOPIC_PREFIX: world.topicPrefix,
      CLICKHOUSE_DATABASE: world.database,
    }),
    // The sink serves health only: its own calls are the health service's.
    services: ['grpc.health.v1.Health'],
    file: 'grpc/health/v1/health.proto',
    dependencies: [],
    unary: {
      method: 'grpc.health.v1.Health/Check',
      request: () => ({ service: '' }),
      check: (responses) => expect(responses).toEqual([{ status: 'SERVING' }]),
    },
    stream: {
      method: 'grpc.health.v1.Health/Watch',
      request: () => ({ service: '' }),
      maxResponses: 1,
      check: (responses) => expect(responses).toEqual([{ status: 'SERVING' }]),
    },
  },
];

let indexCounter = 0;
