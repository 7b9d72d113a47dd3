import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { f32, maxAbsDiff, pipelineReference, TINY_SD_DIR, TINY_SD_MODEL, TINY_SD_VARIATIONS_MODEL } from '../test/tiny-sd-fixture.js';
import { ClipTokenizer } from './clip-tokenizer.js';
import { readEmbeddedParameters } from './image-codec.js';
import { StableDiffusionPipeline } from './stable-diffusion-pipeline.js';

const ref = pipelineReference();
const execFileAsync = promisify(execFile);
let pipeline: StableDiffusionPipeline;

beforeAll(async () => {
  pipeline = await StableDiffusionPipeline.load(TINY_SD_MODEL, { name: 'tiny-sd' });
});
afterAll(async () => {
  await pipeline.dispose();
});

const rgbOf = async (png: Uint8Array): Promise<Buffer> => sharp(png).removeAlpha().raw().toBuffer();
const referenceRgb = async (file: string): Promise<Buffer> => rgbOf(readFileSync(`${TINY_SD_DIR}${file}`));

describe('tiny SD export vs optimum ORTStableDiffusionPipeline', () => {
  it('tokenizes like the transformers CLIP tokenizer, truncating long prompts with a notice', async () => {
    const tokenizer = await ClipTokenizer.load(`${TINY_SD_MODEL}/tokenizer`);
    expect([...tokenizer.encode(ref.prompt).ids].map(Number)).toEqual(ref.inputIds);
    expect([...tokenizer.encode(ref.negativePrompt).ids].map(Number)).toEqual(ref.negativeInputIds);
    const long = tokenizer.encode(ref.longPrompt);
    expect([...long.ids].map(Number)).toEqual(ref.longInputIds);
    expect(long.truncation).toMatch(/prompt truncated to 77 tokens/);
    expect(tokenizer.encode(ref.prompt).truncation).toBeUndefined();
  });

  it('encodes the prompt to the same text embeddings', async () => {
    const tokenizer = await ClipTokenizer.load(`${TINY_SD_MODEL}/tokenizer`);
    const embeds = await pipeline.encodeText([tokenizer.encode(ref.negativePrompt).ids, tokenizer.encode(ref.prompt).ids]);
    const half = embeds.data.length / 2;
    expect(maxAbsDiff(embeds.data.subarray(half) as Float32Array, f32(ref.promptEmbeds))).toBeLessThan(1e-4);
    expect(maxAbsDiff(embeds.data.subarray(0, half) as Float32Array, f32(ref.negativeEmbeds))).toBeLessThan(1e-4);
  });

  it.each(ref.cases.map((c) => [c.scheduler, c] as const))('%s: per-step latents and the final image match', async (_name, c) => {
    const latents: Float32Array[] = [];
    const images = await pipeline.generateAll(
      {
        mode: 'text-to-image',
        prompt: ref.prompt,
        negativePrompt: ref.negativePrompt,
        width: ref.width,
        height: ref.height,
        steps: ref.steps,
        guidanceScale: ref.guidanceScale,
        scheduler: c.scheduler,
        seeds: [0n],
      },
      {
        initialNoise: () => f32(ref.initialLatents),
        stepNoise: (_image, step) => f32(c.stepNoise[step]!),
        onLatents: (_image, _step, l) => latents.push(l),
      },
    );
    expect(latents).toHaveLength(c.latentsPerStep.length);
    latents.forEach((l, i) => {
      const expected = f32(c.latentsPerStep[i]!);
      const scale = Math.max(...expected.map(Math.abs));
      expect(maxAbsDiff(l, expected) / scale, `step ${i}`).toBeLessThan(1e-4);
    });
    const ours = await rgbOf(images[0]!.image);
    // 8-bit pixels: at most one level of rounding difference.
    expect(maxAbsDiff(ours, await referenceRgb(c.png))).toBeLessThanOrEqual(1);
  });

  it('image-to-image (DDIM, strength 0.75, a sample of the VAE posterior) matches', async () => {
    const i2i = ref.img2img;
    const [image] = await pipeline.generateAll(
      {
        mode: 'image-to-image',
        prompt: ref.prompt,
        initImage: readFileSync(`${TINY_SD_DIR}${i2i.init}`),
        strength: i2i.strength,
        steps: ref.steps,
        guidanceScale: ref.guidanceScale,
        scheduler: 'ddim',
        seeds: [0n],
      },
      { initialNoise: () => f32(i2i.noise), posteriorNoise: () => f32(i2i.posteriorNoise) },
    );
    expect(maxAbsDiff(await rgbOf(image!.image), await referenceRgb(i2i.png))).toBeLessThanOrEqual(1);
  });
});

describe('tiny image-variations export vs diffusers StableDiffusionImageVariationPipeline', () => {
  it('conditions on the CLIP image embedding and matches the PyTorch pipeline', async () => {
    const variations = await StableDiffusionPipeline.load(TINY_SD_VARIATIONS_MODEL, { name: 'tiny-sd-variations' });
    try {
      expect(variations.info).toMatchObject({ pipeline: 'image-variation', defaultWidth: 64, supportsImageToImage: false });
      const v = ref.variation;
      const [image] = await variations.generateAll(
        { mode: 'image-variation', referenceImage: readFileSync(`${TINY_SD_DIR}${v.reference}`), steps: ref.steps, scheduler: 'unipc', seeds: [0n] },
        { initialNoise: () => f32(v.initialLatents) },
      );
      expect(JSON.parse(image!.parametersJson)).toMatchObject({ mode: 'image-variation', guidance_scale: 3, scheduler: 'unipc' });
      // PyTorch vs ONNX Runtime kernels: allow two 8-bit levels.
      expect(maxAbsDiff(await rgbOf(image!.image), await referenceRgb(v.png))).toBeLessThanOrEqual(2);
      await expect(variations.generateAll({ mode: 'text-to-image', prompt: 'x', steps: 1 })).rejects.toMatchObject({ code: 3 });
    } finally {
      await variations.dispose();
    }
  });
});

describe('StableDiffusionPipeline', () => {
  const request = { mode: 'text-to-image', prompt: 'a tench', steps: 4, scheduler: 'unipc', seeds: [5n, 9n] } as const;

  it('gives bit-identical images for the same seeds, across pipeline instances', async () => {
    const first = await pipeline.generateAll(request);
    const other = await StableDiffusionPipeline.load(TINY_SD_MODEL, { name: 'tiny-sd' });
    try {
      const second = await other.generateAll(request);
      expect(second.map((image, i) => image.image.equals(first[i]!.image))).toEqual([true, true]);
    } finally {
      await other.dispose();
    }
    expect(first[0]!.image.equals(first[1]!.image)).toBe(false);
  });

  it('embeds the generation parameters in PNG and JPEG metadata', async () => {
    for (const format of ['png', 'jpeg'] as const) {
      const [image] = await pipeline.generateAll({ ...request, seeds: [3n], format, steps: 2 });
      const embedded = readEmbeddedParameters(image!.image);
      expect(embedded).toBe(image!.parametersJson);
      expect(JSON.parse(embedded!)).toMatchObject({ prompt: 'a tench', seed: '3', steps: 2, scheduler: 'unipc', width: 64, height: 64 });
      expect((await sharp(image!.image).metadata()).format).toBe(format);
    }
  });

  it('truncates an over-long prompt to 77 tokens, says so first and records it in the image', async () => {
    const events = [];
    for await (const e of pipeline.generate({ ...request, prompt: ref.longPrompt, seeds: [1n], steps: 1 })) events.push(e);
    expect(events[0]).toMatchObject({ type: 'notice', message: expect.stringMatching(/prompt truncated to 77 tokens/) });
    const notice = events.find((e) => e.type === 'notice')!;
    const image = events.find((e) => e.type === 'image')!;
    expect(JSON.parse(readEmbeddedParameters(image.image)!)).toMatchObject({ prompt: ref.longPrompt, notices: [notice.message] });
  });

  it('streams one progress event per step, with previews on request', async () => {
    const events = [];
    for await (const e of pipeline.generate({ ...request, seeds: [1n], steps: 3, previews: true })) events.push(e);
    const progress = events.filter((e) => e.type === 'progress');
    expect(progress.map((p) => `${p.step}/${p.totalSteps}`)).toEqual(['1/3', '2/3', '3/3']);
    const preview = await sharp(progress[0]!.previewPng!).metadata();
    expect([preview.width, preview.height]).toEqual([8, 8]);
    expect(events.at(-1)?.type).toBe('image');
  });

  it('stops within one step when the signal aborts', async () => {
    const controller = new AbortController();
    const steps: number[] = [];
    let stepsRun = 0;
    const run = async (): Promise<void> => {
      const options = { signal: controller.signal, onLatents: () => void stepsRun++ };
      for await (const e of pipeline.generate({ ...request, steps: 50, seeds: [1n] }, options)) {
        if (e.type === 'progress') {
          steps.push(e.step);
          if (e.step === 2) controller.abort(new Error('client went away'));
        }
      }
    };
    await expect(run()).rejects.toThrow('client went away');
    expect(steps).toEqual([1, 2]);
    // The worker runs ahead of the consumer, but it reads the abort flag before every UNet call: of 50
    // steps it ran the two seen, the one in flight when the abort came, and at most a couple more
    // that finished before the consumer got to step 2.
    expect(stepsRun).toBeGreaterThanOrEqual(2);
    expect(stepsRun).toBeLessThan(8);
    // The worker left the loop and is free: the next request is served.
    expect(await pipeline.generateAll({ ...request, steps: 1, seeds: [1n] })).toHaveLength(1);
  });

  it('gives the same images to concurrent requests as to sequential ones (their loops interleave in one worker)', async () => {
    const a = { ...request, seeds: [31n], steps: 5 };
    const b = { ...request, scheduler: 'euler-ancestral', seeds: [32n], steps: 7 } as const;
    const [ca, cb] = await Promise.all([pipeline.generateAll(a), pipeline.generateAll(b)]);
    const sa = await pipeline.generateAll(a);
    const sb = await pipeline.generateAll(b);
    expect([ca[0]!.image.equals(sa[0]!.image), cb[0]!.image.equals(sb[0]!.image)]).toEqual([true, true]);
  });

  it('gives the same bytes in a fresh process (a restart)', async () => {
    const req = { mode: 'text-to-image', prompt: 'a tench', steps: 3, scheduler: 'euler-ancestral', seeds: [21n], format: 'jpeg' } as const;
    const [here] = await pipeline.generateAll(req);
    const script = [
      `import { StableDiffusionPipeline } from './src/index.ts';`,
      `import { createHash } from 'node:crypto';`,
      `const p = await StableDiffusionPipeline.load(${JSON.stringify(TINY_SD_MODEL)}, { name: "tiny-sd" });`,
      `const [image] = await p.generateAll({ ...${JSON.stringify({ ...req, seeds: undefined })}, seeds: [21n] });`,
      `console.log(createHash('sha256').update(image.image).digest('hex'));`,
      `await p.dispose();`,
    ].join('\n');
    const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
    });
    expect(stdout.trim()).toBe(createHash('sha256').update(here!.image).digest('hex'));
  });

  it.each([
    [{ width: 60 }, /width must be a positive multiple of 8/],
    [{ height: 4096 }, /height 4096 is above the limit of 1024/],
    [{ steps: -1 }, /steps must be a positive integer/],
    [{ steps: 1000 }, /steps 1000 is above the limit/],
    [{ scheduler: 'pndm' }, /unknown scheduler "pndm"/],
    [{ mode: 'image-to-image', initImage: Buffer.from('nope'), strength: 1.5 }, /strength must be in \(0, 1\]/],
    [{ mode: 'image-to-image', initImage: Buffer.from('nope'), strength: 0 }, /strength must be in \(0, 1\]/],
  ])('rejects %j with INVALID_ARGUMENT', async (patch, message) => {
    const run = pipeline.generateAll({ ...request, ...(patch as object) } as never);
    await expect(run).rejects.toMatchObject({ code: 3, message: expect.stringMatching(message) });
  });

  it('rejects a corrupt init image with INVALID_ARGUMENT', async () => {
    const run = pipeline.generateAll({ mode: 'image-to-image', prompt: 'x', initImage: Buffer.from('not an image'), strength: 0.5, steps: 4 });
    await expect(run).rejects.toMatchObject({ code: 3, message: expect.stringMatching(/init image cannot be decoded/) });
  });
});
