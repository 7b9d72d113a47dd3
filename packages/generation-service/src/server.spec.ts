import { readFileSync } from 'node:fs';
import { status } from '@grpc/grpc-js';
import { readEmbeddedParameters } from '@select/diffusion';
import sharp from 'sharp';
import type { generationV1 } from '@select/contracts';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { GenerationServer } from './server.js';
import { collect, connect, openStream, startTestServer, TINY_SD_MODEL, unaryCall, type Client } from './test-server.test-util.js';

const sampling = (patch: Record<string, unknown> = {}) => ({ model: 'tiny-sd', steps: 4, scheduler: 'SCHEDULER_UNIPC', seeds: ['11'], ...patch });

describe('GenerationService over gRPC', () => {
  let running: GenerationServer;
  let client: Client;

  beforeAll(async () => {
    running = await startTestServer();
    client = connect(running.address);
  });
  afterAll(async () => {
    client?.close();
    await running?.close();
  });

  it('lists the models with their defaults', async () => {
    const res = await unaryCall<generationV1.ListModelsResponse__Output>(client, 'listModels', {});
    expect(res.models).toEqual([
      { name: 'tiny-sd', pipeline: 'text-to-image', defaultWidth: 64, defaultHeight: 64, defaultScheduler: 'SCHEDULER_UNIPC' },
      { name: 'tiny-sd-variations', pipeline: 'image-variation', defaultWidth: 64, defaultHeight: 64, defaultScheduler: 'SCHEDULER_UNIPC' },
    ]);
  });

  it('streams progress for every step, then the image with its parameters', async () => {
    const events = await collect(openStream(client, 'textToImage', { prompt: 'A photo of a tench', sampling: sampling({ numImages: 2, previews: true }) }));
    const progress = events.flatMap((e) => (e.progress ? [e.progress] : []));
    const images = events.flatMap((e) => (e.image ? [e.image] : []));
    expect(progress.map((p) => `${p.imageIndex}:${p.step}/${p.totalSteps}`)).toEqual([
      '0:1/4', '0:2/4', '0:3/4', '0:4/4', '1:1/4', '1:2/4', '1:3/4', '1:4/4',
    ]);
    expect(progress[0]!.previewPng.length).toBeGreaterThan(0);
    expect(images.map((i) => i.seed)).toEqual(['11', '12']);
    const image = images[0]!;
    expect(image.mimeType).toBe('image/png');
    expect(readEmbeddedParameters(image.image)).toBe(image.parametersJson);
    expect(JSON.parse(image.parametersJson)).toMatchObject({ model: 'tiny-sd', prompt: 'A photo of a tench', seed: '11', steps: 4 });
  });

  it('gives bit-identical images for the same request, after a restart too', async () => {
    const request = { prompt: 'a goldfish', negativePrompt: 'blurry', sampling: sampling({ scheduler: 'SCHEDULER_EULER_ANCESTRAL', format: 'IMAGE_FORMAT_JPEG' }) };
    const first = (await collect(openStream(client, 'textToImage', request))).find((e) => e.image)!.image!;
    const restarted = await startTestServer();
    const other = connect(restarted.address);
    try {
      const second = (await collect(openStream(other, 'textToImage', request))).find((e) => e.image)!.image!;
      expect(second.image.equals(first.image)).toBe(true);
      expect((await sharp(first.image).metadata()).format).toBe('jpeg');
    } finally {
      other.close();
      await restarted.close();
    }
  });

  it('turns an init image into a new one (image-to-image)', async () => {
    const initImage = readFileSync(`${TINY_SD_MODEL}/../reference-unipc.png`);
    const events = await collect(openStream(client, 'imageToImage', { prompt: 'a tench', initImage, strength: 0.5, sampling: sampling({ steps: 6 }) }));
    expect(events.filter((e) => e.progress)).toHaveLength(3);
    const image = events.find((e) => e.image)!.image!;
    expect(JSON.parse(image.parametersJson)).toMatchObject({ mode: 'image-to-image', strength: 0.5 });
  });

  it('makes variations of a reference image (image-variations model picked when none is named)', async () => {
    const referenceImage = readFileSync(`${TINY_SD_MODEL}/../reference-unipc.png`);
    const events = await collect(openStream(client, 'imageVariation', { referenceImage, sampling: sampling({ model: '', steps: 3, numImages: 2 }) }));
    const images = events.flatMap((e) => (e.image ? [e.image] : []));
    expect(images).toHaveLength(2);
    expect(JSON.parse(images[0]!.parametersJson)).toMatchObject({ model: 'tiny-sd-variations', mode: 'image-variation', guidance_scale: 3 });
  });

  it('says so when the prompt is truncated', async () => {
    const prompt = Array.from({ length: 100 }, (_, i) => `word${i}`).join(' ');
    const events = await collect(openStream(client, 'textToImage', { prompt, sampling: sampling({ steps: 1 }) }));
    expect(events[0]!.notice?.message).toMatch(/prompt truncated to 77 tokens/);
  });

  it.each([
    ['width not a multiple of 8', 'textToImage', { prompt: 'x', sampling: sampling({ width: 100 }) }, /width must be a positive multiple of 8/],
    ['size above the limit', 'textToImage', { prompt: 'x', sampling: sampling({ width: 2048, height: 2048 }) }, /above the limit of 1024/],
    ['too many steps', 'textToImage', { prompt: 'x', sampling: sampling({ steps: 10_000 }) }, /steps 10000 is above the limit/],
    ['height not a multiple of 8', 'imageToImage', { prompt: 'x', initImage: Buffer.from([1]), strength: 0.5, sampling: sampling({ height: 30 }) }, /height must be a positive multiple of 8, got 30/],
    ['strength 0', 'imageToImage', { prompt: 'x', initImage: Buffer.from([1, 2, 3]), strength: 0, sampling: sampling() }, /strength must be in \(0, 1\]/],
    ['strength above 1', 'imageToImage', { prompt: 'x', initImage: Buffer.from([1, 2, 3]), strength: 1.5, sampling: sampling() }, /strength must be in \(0, 1\]/],
    ['corrupt init image', 'imageToImage', { prompt: 'x', initImage: Buffer.from('not a png'), strength: 0.5, sampling: sampling() }, /init image cannot be decoded/],
    ['variation on a text model', 'imageVariation', { referenceImage: Buffer.from([1]), sampling: sampling() }, /image-variations export/],
    ['unknown scheduler', 'textToImage', { prompt: 'x', sampling: sampling({ scheduler: 9 }) }, /unknown scheduler 9/],
    ['corrupt reference image', 'imageVariation', { referenceImage: Buffer.from('nope'), sampling: sampling({ model: '' }) }, /reference image cannot be decoded/],
  ])('%s → INVALID_ARGUMENT', async (_name, method, request, message) => {
    await expect(collect(openStream(client, method, request))).rejects.toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(message) });
  });

  it('an unknown model → NOT_FOUND', async () => {
    await expect(collect(openStream(client, 'textToImage', { prompt: 'x', sampling: sampling({ model: 'sd-9' }) }))).rejects.toMatchObject({
      code: status.NOT_FOUND,
    });
  });

  it('stops generating when the client cancels, and keeps serving', async () => {
    const single = await startTestServer({ maxConcurrentCalls: 1 });
    const client = connect(single.address);
    onTestFinished(async () => {
      client.close();
      await single.close();
    });
    const stream = openStream(client, 'textToImage', { prompt: 'x', sampling: sampling({ steps: 150, numImages: 8 }) });
    let steps = 0;
    const ended = new Promise<unknown>((resolve) => {
      stream.on('data', () => {
        steps++;
        if (steps === 3) stream.cancel();
      });
      stream.on('error', resolve);
    });
    expect(await ended).toMatchObject({ code: status.CANCELLED });
    // With one call allowed at a time, the next call is served only once the cancelled loop has stopped.
    await new Promise((r) => setTimeout(r, 200));
    const events = await collect(openStream(client, 'textToImage', { prompt: 'x', sampling: sampling({ steps: 2 }) }));
    expect(events.filter((e) => e.image)).toHaveLength(1);
  });

  it('an expired deadline ends the call with DEADLINE_EXCEEDED', async () => {
    const stream = openStream(client, 'textToImage', { prompt: 'x', sampling: sampling({ steps: 150, numImages: 8 }) }, { deadline: Date.now() + 300 });
    await expect(collect(stream)).rejects.toMatchObject({ code: status.DEADLINE_EXCEEDED });
  });
});
