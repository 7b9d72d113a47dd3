import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadProto } from '@select/contracts';
import { createLogger, resolveConfig } from '@select/platform';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddingConfigSchema } from './config.js';
import { MODELS_DIR, fixtureImage, maxAbsDiff, reference } from './fixtures.test-util.js';
import type { EmbedImageRequest, EmbedImageResponse, ModelInfoMsg, TextEmbeddingMsg } from './rpc-types.js';
import { startEmbeddingServer, type EmbeddingServer } from './server.js';

type Client = grpc.Client & Record<string, (...args: never[]) => unknown>;

function connect(address: string): Client {
  const Service = loadProto('embedding').select.embedding.v1.EmbeddingService;
  return new Service(address, grpc.credentials.createInsecure()) as unknown as Client;
}

function unaryCall<T>(client: Client, method: string, request: object, deadlineMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const fn = client[method] as unknown as (r: object, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: T) => void) => void;
    fn.call(client, request, { deadline: Date.now() + deadlineMs }, (err, value) => (err ? reject(err) : resolve(value)));
  });
}

/** Send every request, half-close, collect every response. */
function embedStream(client: Client, requests: Array<Partial<EmbedImageRequest>>): Promise<EmbedImageResponse[]> {
  return new Promise((resolve, reject) => {
    const call = (client['embedImages'] as unknown as (o: grpc.CallOptions) => grpc.ClientDuplexStream<object, EmbedImageResponse>).call(client, {
      deadline: Date.now() + 30_000,
    });
    const out: EmbedImageResponse[] = [];
    call.on('data', (r: EmbedImageResponse) => out.push(r));
    call.on('error', reject);
    call.on('end', () => resolve(out));
    for (const r of requests) call.write(r);
    call.end();
  });
}

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
    const requests: Array<Partial<EmbedImageRequest>> = [
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

  it('honours deadlines: a call whose deadline passes gets DEADLINE_EXCEEDED', async () => {
    await expect(unaryCall(client, 'embedTexts', { texts: ['a'] }, -1)).rejects.toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
  });
});

describe('EmbeddingService under a flood', () => {
  it('answers RESOURCE_EXHAUSTED per item when the queues are full, and keeps serving', async () => {
    const running = await start({ maxPendingImages: 2, streamWindow: 64, maxQueue: 4, maxBatch: 2, maxWaitMs: 50 });
    const client = connect(running.address);
    try {
      const jpeg = fixtureImage('odd-portrait.png');
      const responses = await embedStream(client, Array.from({ length: 40 }, (_, i) => ({ itemId: String(i), image: jpeg })));
      expect(responses.map((r) => r.itemId)).toEqual(Array.from({ length: 40 }, (_, i) => String(i)));
      const exhausted = responses.filter((r) => r.error?.code === 'RESOURCE_EXHAUSTED');
      expect(exhausted.length).toBeGreaterThan(0);
      expect(responses.filter((r) => r.embedding).length).toBeGreaterThan(0);
      expect(responses.every((r) => r.embedding || r.error?.code === 'RESOURCE_EXHAUSTED')).toBe(true);

      const { embeddings } = await unaryCall<{ embeddings: TextEmbeddingMsg[] }>(client, 'embedTexts', {
        texts: Array.from({ length: 12 }, (_, i) => `text ${i}`),
      });
      expect(embeddings.filter((e) => e.error?.code === 'RESOURCE_EXHAUSTED').length).toBeGreaterThan(0);
      // after the flood, a lone request is served normally
      const [after] = await embedStream(client, [{ itemId: 'after', image: jpeg }]);
      expect(after!.embedding!.vector).toHaveLength(16);
    } finally {
      client.close();
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
