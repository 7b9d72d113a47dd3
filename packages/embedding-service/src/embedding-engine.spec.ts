import { availableParallelism } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddingEngine } from './embedding-engine.js';
import { DeadlineExceededError } from '@select/inference';
import { TextInputError, UnknownModelError, UnsupportedInputError } from './errors.js';
import { MODELS_DIR, fixtureImage, maxAbsDiff, reference } from './fixtures.test-util.js';
import { scanModels } from './model-layout.js';

const TOLERANCE = 1e-4;

describe('EmbeddingEngine threads', () => {
  it('defaults to the measured thread counts: one inference worker with every core, one preprocessing thread per core', async () => {
    const specs = await scanModels(MODELS_DIR);
    const engine = await EmbeddingEngine.start(specs.filter((s) => s.name === 'tiny-resnet'));
    try {
      expect(engine.threads).toEqual({ inferenceWorkers: 1, intraOpThreads: availableParallelism(), allowSpinning: false, preprocessThreads: availableParallelism() });
    } finally {
      await engine.close();
    }
  });
});

describe('EmbeddingEngine reproduces the PyTorch reference vectors', () => {
  let engine: EmbeddingEngine;
  beforeAll(async () => {
    engine = await EmbeddingEngine.start(await scanModels(MODELS_DIR), {
      sessions: { workers: 1, intraOpThreads: 1 },
      preprocess: { threads: 2 },
      batching: { maxBatch: 8, maxWaitMs: 2 },
      maxTextChars: 10_000,
    });
  });
  afterAll(() => engine.close());

  for (const model of ['tiny-clip', 'tiny-clip-combined', 'tiny-resnet']) {
    it(`${model}: every test image (EXIF, grey, CMYK, alpha, 16-bit, animated, 1x1...), batched concurrently`, async () => {
      const ref = reference.models[model]!;
      const names = Object.keys(ref.images!);
      const vectors = await Promise.all(names.map((n) => engine.embedImage(model, fixtureImage(n))));
      names.forEach((n, i) => {
        const diff = maxAbsDiff(vectors[i]!, ref.images![n]!.vector);
        expect(diff, `${model} ${n}: max abs diff ${diff}`).toBeLessThan(TOLERANCE);
      });
    });
  }

  for (const model of ['tiny-clip', 'tiny-clip-combined', 'tiny-sentence']) {
    it(`${model}: token ids, truncation and text vectors, padded in one batch`, async () => {
      const ref = reference.models[model]!.texts!;
      for (const t of ref) expect(engine.tokenize(model, t.text).ids).toEqual(t.ids);
      const out = await engine.embedTexts(model, ref.map((t) => t.text));
      out.forEach((r, i) => {
        if (r instanceof Error) throw r;
        expect(r.truncated).toBe(ref[i]!.truncated);
        expect(maxAbsDiff(r.vector, ref[i]!.vector)).toBeLessThan(TOLERANCE);
      });
      expect(out.some((r) => !(r instanceof Error) && r.truncated)).toBe(true);
    });
  }

  it('gives the reference vectors pass after pass as its recycled buffers are reused, a corrupt image among them, and with recycling off', async () => {
    const ref = reference.models['tiny-clip']!.images!;
    const names = Object.keys(ref);
    const bytes = names.map((n) => fixtureImage(n));
    const fresh = await EmbeddingEngine.start(await scanModels(MODELS_DIR), { sessions: { workers: 2, intraOpThreads: 1 }, batching: { maxBatch: 4, maxWaitMs: 2 }, recycleBuffers: false });
    try {
      for (const e of [engine, engine, engine, fresh]) {
        const results = await Promise.allSettled([...bytes, new Uint8Array([0xff, 0xd8, 0xff, 0, 1])].map((b) => e.embedImage('tiny-clip', b)));
        expect(results.at(-1)!.status).toBe('rejected');
        names.forEach((n, i) => {
          const r = results[i]!;
          expect(r.status, n).toBe('fulfilled');
          const diff = maxAbsDiff((r as PromiseFulfilledResult<Float32Array>).value, ref[n]!.vector);
          expect(diff, `tiny-clip ${n}: max abs diff ${diff}`).toBeLessThan(TOLERANCE);
        });
      }
    } finally {
      await fresh.close();
    }
  });

  it('fails only the over-long text of a batch', async () => {
    const out = await engine.embedTexts('tiny-clip', ['a dog', 'x'.repeat(20_000), 'a cat']);
    expect(out[0]).not.toBeInstanceOf(Error);
    expect(out[1]).toBeInstanceOf(TextInputError);
    expect(out[2]).not.toBeInstanceOf(Error);
  });

  it('drops items whose deadline passes while they wait, and answers the others', async () => {
    const image = fixtureImage('odd-portrait.png');
    const patient = Array.from({ length: 40 }, () => engine.embedImage('tiny-clip', image));
    const hurried = Array.from({ length: 5 }, () => engine.embedImage('tiny-clip', image, { deadline: Date.now() + 1 }));
    const [p, h] = await Promise.all([Promise.allSettled(patient), Promise.allSettled(hurried)]);
    expect(p.every((r) => r.status === 'fulfilled')).toBe(true);
    for (const r of h) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(DeadlineExceededError);
  });

  it('refuses unknown models and modalities a model lacks', async () => {
    await expect(engine.embedImage('nope', fixtureImage('landscape.jpg'))).rejects.toBeInstanceOf(UnknownModelError);
    await expect(engine.embedImage('tiny-sentence', fixtureImage('landscape.jpg'))).rejects.toBeInstanceOf(UnsupportedInputError);
    await expect(engine.embedTexts('tiny-resnet', ['a dog'])).rejects.toBeInstanceOf(UnsupportedInputError);
  });

  it('describes each model from its exporter files, with ONNX hashes', () => {
    const clip = engine.spec('tiny-clip');
    expect(clip).toMatchObject({ kind: 'image-text', layout: 'hf-clip', dimension: 16 });
    expect(clip.text?.maxTokens).toBe(77);
    expect(Object.fromEntries(clip.files.map((f) => [f.name, f.sha256]))).toEqual(reference.models['tiny-clip']!.files);
    // optimum's single-graph export: both towers name one model.onnx, listed (and opened) once
    const combined = engine.spec('tiny-clip-combined');
    expect(combined).toMatchObject({ kind: 'image-text', layout: 'hf-clip', dimension: 16 });
    expect(combined.image?.onnx).toBe(combined.text?.onnx);
    expect(Object.fromEntries(combined.files.map((f) => [f.name, f.sha256]))).toEqual(reference.models['tiny-clip-combined']!.files);
    expect(engine.spec('tiny-resnet')).toMatchObject({ kind: 'image-only', layout: 'timm', dimension: 256 });
    expect(engine.spec('tiny-sentence')).toMatchObject({ kind: 'text-only', layout: 'sentence-transformers', dimension: 32 });
  });
});
