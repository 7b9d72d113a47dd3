import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { createLogger, resolveConfig } from '@select/platform';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddingConfigSchema } from './config.js';
import { MODELS_DIR, fixtureImage, maxAbsDiff, reference } from './fixtures.test-util.js';
import { connect, embedStream, unaryCall, type Client, type EmbedImageRequest, type ModelInfoMsg, type TextEmbeddingMsg } from './grpc-client.test-util.js';
import { startEmbeddingServer, type EmbeddingServer } from './server.js';

async function start(overrides: Record<string, unknown>, imageRoot?: string): Promise<EmbeddingServer> {
  const config = resolveConfig(
    embeddingConfigSchema,
    { modelsDir: MODELS_DIR, port: 0, inferenceWorkers: 1, intraOpThreads: 1, preprocessThreads: 2, imageRoot, publishJobEvents: false, ...overrides },
    {},
  );
  return startEmbeddingServer(config, { logger: createLogger({ service: 'embedding-test', level: 'silent' }) });
}

describe('EmbeddingService over gRPC', () => {
  let running: EmbeddingServer;
  let client: Client;
  let root: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'embedding-root-'));
    mkdirSync(join(root, 'photos'));
    writeFileSync(join(root, 'photos', 'landscape.jpg'), fixtureImage('landscape.jpg'));
    writeFileSync(join(tmpdir(), 'outside-root.jpg'), fixtureImage('landscape.jpg'));
    running = await start({ maxPixels: 1_000_000 }, root);
    client = connect(running.address);
  });
  afterAll(async () => {
    client.close();
    await running.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('streams vectors back in order, tagged, with per-item errors, and the stream goes on', async () => {
    const jpeg = fixtureImage('landscape.jpg');
    const bomb = await sharp({ create: { width: 2000, height: 2000, channels: 3, background: '#204060' } }).png().toBuffer();
    const requests: EmbedImageRequest[] = [
      { itemId: 'a', image: jpeg },
      { itemId: 'empty', image: Buffer.alloc(0) },
      { itemId: 'truncated', image: jpeg.subarray(0, 3000) },
      { itemId: 'text', image: Buffer.from('definitely not an image') },
      { itemId: 'bomb', image: bomb },
      { itemId: 'one-pixel', image: fixtureImage('one-pixel.png') },
      { itemId: 'unknown-model', model: 'clip-vit-h14', image: jpeg },
      { itemId: 'nothing' },
      { itemId: 'by-path', path: 'photos/landscape.jpg' },
      { itemId: 'escape', path: '../outside-root.jpg' },
      { itemId: 'missing', path: 'photos/nope.jpg' },
      { itemId: 'resnet', model: 'tiny-resnet', image: fixtureImage('cmyk.jpg') },
      { itemId: 'text-model', model: 'tiny-sentence', image: jpeg },
      { itemId: 'z', image: fixtureImage('animated.gif') },
    ];
    const responses = await embedStream(client, requests);
    expect(responses.map((r) => r.itemId)).toEqual(requests.map((r) => r.itemId));
    const byId = Object.fromEntries(responses.map((r) => [r.itemId, r]));
    const codes = Object.fromEntries(responses.filter((r) => r.error).map((r) => [r.itemId, r.error!.code]));
    expect(codes).toEqual({
      empty: 'INVALID_ARGUMENT',
      truncated: 'INVALID_ARGUMENT',
      text: 'INVALID_ARGUMENT',
      bomb: 'INVALID_ARGUMENT',
      'unknown-model': 'NOT_FOUND',
      nothing: 'INVALID_ARGUMENT',
      escape: 'PERMISSION_DENIED',
      missing: 'NOT_FOUND',
      'text-model': 'INVALID_ARGUMENT',
    });
    expect(byId['bomb']!.error!.message).toContain('2000x2000');
    expect(byId['empty']!.error!.message).toContain('empty');
    const clip = reference.models['tiny-clip']!.images!;
    expect(maxAbsDiff(byId['a']!.embedding!.vector as number[], clip['landscape.jpg']!.vector)).toBeLessThan(1e-4);
    expect(maxAbsDiff(byId['by-path']!.embedding!.vector as number[], clip['landscape.jpg']!.vector)).toBeLessThan(1e-4);
    expect(maxAbsDiff(byId['one-pixel']!.embedding!.vector as number[], clip['one-pixel.png']!.vector)).toBeLessThan(1e-4);
    expect(maxAbsDiff(byId['z']!.embedding!.vector as number[], clip['animated.gif']!.vector)).toBeLessThan(1e-4);
    expect(maxAbsDiff(byId['resnet']!.embedding!.vector as number[], reference.models['tiny-resnet']!.images!['cmyk.jpg']!.vector)).toBeLessThan(1e-4);
  });

  it('embeds texts with token counts and truncation, failing only the text that is too long', async () => {
    const ref = reference.models['tiny-clip']!.texts!;
    const { embeddings } = await unaryCall<{ embeddings: TextEmbeddingMsg[] }>(client, 'embedTexts', {
      model: 'tiny-clip',
      texts: [...ref.map((t) => t.text), 'y'.repeat(200_000)],
    });
    ref.forEach((t, i) => {
      expect(embeddings[i]!.error ?? null).toBeNull();
      expect(embeddings[i]!.truncated).toBe(t.truncated);
      expect(maxAbsDiff(embeddings[i]!.vector as number[], t.vector)).toBeLessThan(1e-4);
    });
    expect(embeddings.find((e) => e.truncated)!.tokenCount).toBeGreaterThan(77);
    expect(embeddings[ref.length]!.error).toMatchObject({ itemId: String(ref.length), code: 'INVALID_ARGUMENT' });
  });

  it("lets ONNX Runtime's intra-op threads spin by default (EMBEDDING_ALLOW_SPINNING)", () => {
    expect(running.engine.threads.allowSpinning).toBe(true);
  });

  it('uses the default model (the image-text one) when a request names none', async () => {
    const { embeddings } = await unaryCall<{ embeddings: TextEmbeddingMsg[] }>(client, 'embedTexts', { texts: ['a photo of a dog'] });
    expect(embeddings[0]!.vector).toHaveLength(16);
  });

  it('answers NOT_FOUND for an unknown model and INVALID_ARGUMENT for texts on an image-only model', async () => {
    await expect(unaryCall(client, 'embedTexts', { model: 'nope', texts: ['x'] })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    await expect(unaryCall(client, 'getModel', { name: 'nope' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    await expect(unaryCall(client, 'embedTexts', { model: 'tiny-resnet', texts: ['x'] })).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
    });
  });

  it('describes models: kind, dimension, preprocessing, input size, context, ONNX hashes', async () => {
    const { models } = await unaryCall<{ models: ModelInfoMsg[] }>(client, 'listModels', {});
    expect(models.map((m) => [m.name, m.kind, m.dimension])).toEqual([
      ['tiny-clip', 'MODEL_KIND_IMAGE_TEXT', 16],
      ['tiny-clip-combined', 'MODEL_KIND_IMAGE_TEXT', 16],
      ['tiny-resnet', 'MODEL_KIND_IMAGE_ONLY', 256],
      ['tiny-sentence', 'MODEL_KIND_TEXT_ONLY', 32],
    ]);
    const resnet = await unaryCall<ModelInfoMsg>(client, 'getModel', { name: 'tiny-resnet' });
    expect(resnet).toMatchObject({
      inputSize: 224,
      preprocessing: { resize: 'shortest_edge', resizeSize: 256, interpolation: 'bicubic', cropSize: 224 },
      files: [{ name: 'model.onnx', sha256: reference.models['tiny-resnet']!.files['model.onnx'] }],
    });
    expect((await unaryCall<ModelInfoMsg>(client, 'getModel', { name: 'tiny-clip' })).maxTextTokens).toBe(77);
  });

});

describe('deadlines and threads', () => {
  it('ends a call at its deadline with DEADLINE_EXCEEDED, the client\'s or the server default, and serves the next one', async () => {
    // one image per batch: 300 images take far longer than the deadlines below
    const running = await start({ maxBatch: 1, maxWaitMs: 0, streamWindow: 512, maxPendingImages: 512, maxQueue: 512, defaultDeadlineMs: 200 });
    const client = connect(running.address);
    try {
      const image = fixtureImage('odd-portrait.png');
      const backlog = Array.from({ length: 300 }, (_, i) => ({ itemId: String(i), image }));
      // the client's own deadline, then none at all: the server's default (EMBEDDING_DEFAULT_DEADLINE_MS) ends it
      for (const deadlineMs of [150, Infinity]) {
        const started = Date.now();
        await expect(embedStream(client, backlog, deadlineMs), `deadline ${deadlineMs}`).rejects.toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
        expect(Date.now() - started).toBeLessThan(3000);
      }
      const { embeddings } = await unaryCall<{ embeddings: TextEmbeddingMsg[] }>(client, 'embedTexts', { texts: ['a photo of a dog'] });
      expect(maxAbsDiff(embeddings[0]!.vector, reference.models['tiny-clip']!.texts![0]!.vector)).toBeLessThan(1e-4);
      const [after] = await embedStream(client, [{ itemId: 'after', image: fixtureImage('landscape.jpg') }]);
      expect(maxAbsDiff(after!.embedding!.vector, reference.models['tiny-clip']!.images!['landscape.jpg']!.vector)).toBeLessThan(1e-4);
    } finally {
      client.close();
      await running.close();
    }
  }, 30_000);

  it('takes its thread counts from the environment, and two inference workers give the same vectors', async () => {
    const env = {
      EMBEDDING_MODELS_DIR: MODELS_DIR,
      EMBEDDING_PORT: '0',
      EMBEDDING_PUBLISH_JOB_EVENTS: 'false',
      EMBEDDING_INFERENCE_WORKERS: '2',
      EMBEDDING_INTRA_OP_THREADS: '1',
      EMBEDDING_PREPROCESS_THREADS: '3',
      EMBEDDING_ALLOW_SPINNING: 'false',
    };
    const running = await startEmbeddingServer(resolveConfig(embeddingConfigSchema, {}, env), { logger: createLogger({ service: 'embedding-test', level: 'silent' }) });
    const client = connect(running.address);
    try {
      expect(running.engine.threads).toEqual({ inferenceWorkers: 2, intraOpThreads: 1, allowSpinning: false, preprocessThreads: 3 });
      const names = Object.keys(reference.models['tiny-clip']!.images!);
      const responses = await embedStream(client, names.map((n) => ({ itemId: n, image: fixtureImage(n) })));
      for (const r of responses) expect(maxAbsDiff(r.embedding!.vector, reference.models['tiny-clip']!.images![r.itemId]!.vector)).toBeLessThan(1e-4);
    } finally {
      client.close();
      await running.close();
    }
  });
});

describe('inference threads by default', () => {
  it('runs two inference workers (one on one core), each with its share of the cores, when the environment names none', async () => {
    const env = { EMBEDDING_MODELS_DIR: MODELS_DIR, EMBEDDING_PORT: '0', EMBEDDING_PUBLISH_JOB_EVENTS: 'false' };
    const running = await startEmbeddingServer(resolveConfig(embeddingConfigSchema, {}, env), { logger: createLogger({ service: 'embedding-test', level: 'silent' }) });
    try {
      const workers = Math.min(2, availableParallelism());
      expect(running.engine.threads).toMatchObject({ inferenceWorkers: workers, intraOpThreads: Math.max(1, Math.floor(availableParallelism() / workers)), allowSpinning: true });
    } finally {
      await running.close();
    }
  });
});

describe('dataset jobs over gRPC', () => {
  it('refuses StartEmbedDataset without a jobs dir and reports unknown jobs as NOT_FOUND', async () => {
    const running = await start({});
    const client = connect(running.address);
    try {
      await expect(
        unaryCall(client, 'startEmbedDataset', { inputUri: '/tmp/x.tar', inputFormat: 'webdataset', outputUri: '/tmp/out', embedImages: true }),
      ).rejects.toMatchObject({ code: grpc.status.FAILED_PRECONDITION });
      await expect(unaryCall(client, 'getJob', { jobId: 'embed-dataset-0123456789abcdef' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    } finally {
      client.close();
      await running.close();
    }
  });
});
