import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { float32, SessionPool } from '@select/inference';
import { afterAll, describe, expect, it } from 'vitest';
import { fromHfImageProcessorConfig, fromTimmPretrainedCfg } from './model-configs.js';
import { nativeJpegDecoder } from './native-preprocess.js';
import { dctScaleFor, planResize, preprocessImage, type ImagePreprocessing, type PreprocessOptions } from './preprocess.js';
import { PreprocessPool } from './preprocess-pool.js';

const FIXTURES = fileURLToPath(new URL('../../../tools/fixtures/embedding/', import.meta.url));
const json = (path: string) => JSON.parse(readFileSync(join(FIXTURES, path), 'utf8')) as Record<string, unknown>;
const fixture = (name: string) => readFileSync(join(FIXTURES, 'images', name));

const clip = fromHfImageProcessorConfig(json('models/tiny-clip/preprocessor_config.json'));
const specs: Record<string, ImagePreprocessing> = {
  'hf clip (shortest edge 224, bicubic, floor crop)': clip,
  'timm (shortest edge 256, bicubic, round-half-even crop)': fromTimmPretrainedCfg(
    json('models/tiny-resnet/config.json')['pretrained_cfg'] as Record<string, unknown>,
  ),
  'fixed 320x200 bilinear, no crop': {
    resize: { mode: 'fixed', width: 320, height: 200 },
    interpolation: 'bilinear',
    crop: null,
    rescale: 1 / 255,
    mean: [0.5, 0.5, 0.5],
    std: [0.5, 0.5, 0.5],
  },
};

/** A photo-like image: smooth colour fields plus sensor-like noise, so JPEGs have realistic entropy. */
function photo(width: number, height: number, seed: number): Buffer {
  const data = Buffer.alloc(width * height * 3);
  let s = seed >>> 0 || 1;
  const noise = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * 24;
  };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = x / width;
      const v = y / height;
      const i = (y * width + x) * 3;
      data[i] = Math.max(0, Math.min(255, 128 + 100 * Math.sin(6 * u + seed) * Math.cos(4 * v) + noise()));
      data[i + 1] = Math.max(0, Math.min(255, 110 + 90 * Math.cos(5 * v + u * 3 + seed) + noise()));
      data[i + 2] = Math.max(0, Math.min(255, 90 + 80 * Math.sin(9 * u * v + seed) + noise()));
    }
  }
  return data;
}

interface Variant {
  name: string;
  width: number;
  height: number;
  jpeg: sharp.JpegOptions;
  grey?: boolean;
}

// Real-size photos in the layouts libjpeg decodes differently: chroma subsampling, progressive scans, grey,
// odd sizes (partial MCUs), portraits (rows above the crop are skipped), tiny and extreme aspect ratios.
const variants: Variant[] = [
  { name: '500x375 4:2:0 q90', width: 500, height: 375, jpeg: { quality: 90 } },
  { name: '375x500 portrait 4:2:0', width: 375, height: 500, jpeg: { quality: 85 } },
  { name: '640x427 4:4:4 q95', width: 640, height: 427, jpeg: { quality: 95, chromaSubsampling: '4:4:4' } },
  { name: '333x501 progressive', width: 333, height: 501, jpeg: { quality: 80, progressive: true } },
  { name: '1024x683 optimised coding', width: 1024, height: 683, jpeg: { quality: 75, optimiseCoding: true } },
  { name: '501x333 grey', width: 501, height: 333, jpeg: { quality: 90 }, grey: true },
  { name: '97x61 upscaled', width: 97, height: 61, jpeg: { quality: 90 } },
  { name: '1200x90 panorama', width: 1200, height: 90, jpeg: { quality: 90 } },
  { name: '224x224 no resize', width: 224, height: 224, jpeg: { quality: 90 } },
];

async function encode(v: Variant, seed: number): Promise<Buffer> {
  let image = sharp(photo(v.width, v.height, seed), { raw: { width: v.width, height: v.height, channels: 3 } });
  if (v.grey) image = image.toColourspace('b-w');
  return image.jpeg(v.jpeg).toBuffer();
}

/** The JPEG with an EXIF block (APP1 after SOI) whose IFD0 holds only Orientation = `value`. */
function withExifOrientation(jpeg: Buffer, value: number): Buffer {
  const tiff = Buffer.alloc(26);
  tiff.write('II*\0', 0, 'latin1');
  tiff.writeUInt32LE(8, 4); // IFD0 right after the header
  tiff.writeUInt16LE(1, 8); // one entry
  tiff.writeUInt16LE(0x0112, 10); // Orientation
  tiff.writeUInt16LE(3, 12); // SHORT
  tiff.writeUInt32LE(1, 14); // count
  tiff.writeUInt16LE(value, 18);
  tiff.writeUInt32LE(0, 22); // no next IFD
  const body = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
  const header = Buffer.from([0xff, 0xe1, (body.length + 2) >> 8, (body.length + 2) & 0xff]);
  return Buffer.concat([jpeg.subarray(0, 2), header, body, jpeg.subarray(2)]);
}

const bitsOf = (t: Float32Array) => new Uint32Array(t.buffer, t.byteOffset, t.length);

async function outcome(bytes: Uint8Array, spec: ImagePreprocessing, options: PreprocessOptions) {
  try {
    const r = await preprocessImage(bytes, spec, options);
    return { ok: true as const, tensor: r.tensor, source: r.source, pipeline: r.pipeline };
  } catch (err) {
    return { ok: false as const, error: err as Error & { reason?: string } };
  }
}

describe('native JPEG path', () => {
  it('is built and loaded (libjpeg-turbo)', () => {
    expect(nativeJpegDecoder()).toMatch(/^libjpeg-turbo \d/);
  });

  describe('gives tensors bit-identical to the sharp + TypeScript path', () => {
    for (const [specName, spec] of Object.entries(specs)) {
      for (const [i, v] of variants.entries()) {
        it(`${v.name} → ${specName}`, async () => {
          const bytes = await encode(v, i + 1);
          const native = await preprocessImage(bytes, spec);
          const reference = await preprocessImage(bytes, spec, { decoder: 'sharp' });
          expect(native.pipeline).toBe('native');
          expect(reference.pipeline).toBe('sharp');
          expect(native.source).toEqual(reference.source);
          expect(native.tensor.length).toBe(reference.tensor.length);
          expect(Buffer.from(bitsOf(native.tensor).buffer).equals(Buffer.from(bitsOf(reference.tensor).buffer))).toBe(true);
        });
      }
    }
  });

  it('gives the same bits with the portable horizontal pass as with the AVX2 one', async () => {
    // the CPU is probed once per process: the portable code runs in a child with SELECT_VISION_SIMD=0
    const dir = mkdtempSync(join(tmpdir(), 'vision-simd-'));
    try {
      const names: string[] = [];
      for (const [i, v] of variants.entries()) {
        names.push(join(dir, `${i}.jpg`));
        writeFileSync(names[i]!, await encode(v, 40 + i));
      }
      const script = join(dir, 'hash.mts');
      writeFileSync(
        script,
        [
          `import { readFileSync } from 'node:fs';`,
          `import { createHash } from 'node:crypto';`,
          `import { preprocessImage } from ${JSON.stringify(fileURLToPath(new URL('./preprocess.ts', import.meta.url)))};`,
          `const spec = JSON.parse(process.argv[2]);`,
          `const out = [];`,
          `for (const f of process.argv.slice(3)) { const r = await preprocessImage(readFileSync(f), spec); out.push(r.pipeline + ':' + createHash('sha256').update(new Uint8Array(r.tensor.buffer)).digest('hex')); }`,
          `console.log(JSON.stringify(out));`,
        ].join('\n'),
      );
      for (const spec of Object.values(specs)) {
        const here = await Promise.all(
          names.map(async (f) => {
            const r = await preprocessImage(readFileSync(f), spec);
            return `${r.pipeline}:${createHash('sha256').update(new Uint8Array(r.tensor.buffer)).digest('hex')}`;
          }),
        );
        const child = execFileSync(process.execPath, ['--import', 'tsx', script, JSON.stringify(spec), ...names], {
          env: { ...process.env, SELECT_VISION_SIMD: '0' },
          encoding: 'utf8',
        });
        expect(JSON.parse(child.trim().split('\n').pop()!)).toEqual(here);
        expect(here.every((h) => h.startsWith('native:'))).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes the fixture JPEGs it can and leaves the others to sharp, with the same tensors either way', async () => {
    const expected: Record<string, string> = {
      'landscape.jpg': 'native',
      'grayscale.jpg': 'native',
      'exif-rotated.jpg': 'sharp', // EXIF orientation 6: sharp rotates
      'cmyk.jpg': 'sharp', // CMYK: Pillow's formula in decode.ts
    };
    for (const [name, pipeline] of Object.entries(expected)) {
      for (const spec of Object.values(specs)) {
        const auto = await preprocessImage(fixture(name), spec);
        const reference = await preprocessImage(fixture(name), spec, { decoder: 'sharp' });
        expect(auto.pipeline, name).toBe(pipeline);
        expect(auto.source, name).toEqual(reference.source);
        expect(auto.tensor, name).toEqual(reference.tensor);
      }
    }
  });

  it('leaves JPEGs with an ICC profile or a rotating EXIF orientation to sharp, and takes orientation 1', async () => {
    const raw = sharp(photo(320, 240, 7), { raw: { width: 320, height: 240, channels: 3 } });
    const plain = await raw.clone().jpeg({ quality: 90 }).toBuffer();
    const withIcc = await raw.clone().withIccProfile('p3').jpeg({ quality: 90 }).toBuffer();
    for (const [name, bytes, pipeline, orientation] of [
      ['ICC profile', withIcc, 'sharp', 1],
      ['EXIF orientation 1', withExifOrientation(plain, 1), 'native', 1],
      ['EXIF orientation 6', withExifOrientation(plain, 6), 'sharp', 6],
      ['EXIF orientation 3', withExifOrientation(plain, 3), 'sharp', 3],
    ] as const) {
      const auto = await preprocessImage(bytes, clip);
      const reference = await preprocessImage(bytes, clip, { decoder: 'sharp' });
      expect(auto.pipeline, name).toBe(pipeline);
      expect(auto.source.orientation, name).toBe(orientation);
      expect(auto.source, name).toEqual(reference.source);
      expect(auto.tensor, name).toEqual(reference.tensor);
    }
  });

  it('answers damaged JPEGs exactly as the sharp path does: the same tensor or the same error', async () => {
    const good = await encode(variants[0]!, 3);
    const damaged: Record<string, Uint8Array> = {
      'cut in half': good.subarray(0, good.length >> 1),
      'cut before EOI': good.subarray(0, good.length - 2),
      'header only': good.subarray(0, 600),
      'garbage in the entropy data': (() => {
        const b = Buffer.from(good);
        for (let i = b.length >> 1; i < (b.length >> 1) + 64; i++) b[i] = (b[i]! * 31 + 7) & 0xff;
        return b;
      })(),
      'extra bytes after EOI': Buffer.concat([good, Buffer.from('trailing junk')]),
      'SOI only': Buffer.from([0xff, 0xd8, 0xff]),
    };
    for (const [name, bytes] of Object.entries(damaged)) {
      const auto = await outcome(bytes, clip, {});
      const reference = await outcome(bytes, clip, { decoder: 'sharp' });
      expect(auto.ok, name).toBe(reference.ok);
      if (auto.ok && reference.ok) expect(auto.tensor, name).toEqual(reference.tensor);
      if (!auto.ok && !reference.ok) {
        expect(auto.error.message, name).toBe(reference.error.message);
        expect(auto.error.reason, name).toBe(reference.error.reason);
      }
    }
    // the cut image at least must fail, as a corrupt image
    expect(await outcome(damaged['cut in half']!, clip, {})).toMatchObject({ ok: false, error: { reason: 'corrupt' } });
  });

  it('refuses a JPEG past maxPixels from its header, with the same error as the sharp path', async () => {
    const bytes = await encode(variants[4]!, 5); // 1024 x 683
    const auto = await outcome(bytes, clip, { maxPixels: 500_000 });
    const reference = await outcome(bytes, clip, { maxPixels: 500_000, decoder: 'sharp' });
    expect(auto).toMatchObject({ ok: false, error: { reason: 'too-many-pixels' } });
    expect(!auto.ok && !reference.ok && auto.error.message === reference.error.message).toBe(true);
  });
});

describe("fast mode (libjpeg-turbo's DCT scaling, then the exact resample)", () => {
  it('decodes at the smallest N/8 that still covers the resize target', () => {
    // 500x375 to shortest edge 224: resized 298x224; 5/8 gives 313x235 (4/8 would be 250x188, too small)
    const plan = planResize(500, 375, clip);
    expect([plan.width, plan.height]).toEqual([298, 224]);
    expect(dctScaleFor(500, 375, plan.width, plan.height)).toBe(5);
    expect(dctScaleFor(2000, 1500, 298, 224)).toBe(2); // 1/8 = 250x188 would not cover it
    expect(dctScaleFor(97, 61, 352, 224)).toBe(8); // upscaled images are decoded whole
  });

  it('embeds photos like the exact path does (tiny CLIP: cosine of the vectors) while decoding fewer pixels', async () => {
    const sessions = await SessionPool.open({ vision: join(FIXTURES, 'models/tiny-clip/onnx/vision_model.onnx') }, { workers: 1, intraOpThreads: 1 });
    try {
      const photos = await Promise.all(variants.slice(0, 5).map((v, i) => encode(v, 100 + i)));
      const embed = async (options: PreprocessOptions) => {
        const tensors = await Promise.all(photos.map((b) => preprocessImage(b, clip, options)));
        const batch = new Float32Array(tensors.length * 3 * 224 * 224);
        tensors.forEach((t, i) => batch.set(t.tensor, i * 3 * 224 * 224));
        const out = await sessions.run('vision', { pixel_values: float32(batch, [tensors.length, 3, 224, 224]) }, ['image_embeds']);
        return { pipelines: tensors.map((t) => t.pipeline), tensors: tensors.map((t) => t.tensor), vectors: out['image_embeds']!.data as Float32Array };
      };
      const exact = await embed({ mode: 'exact' });
      const fast = await embed({ mode: 'fast' });
      expect(exact.pipelines.every((p) => p === 'native')).toBe(true);
      expect(fast.pipelines.every((p) => p === 'native-scaled')).toBe(true);
      const dim = exact.vectors.length / photos.length;
      for (let i = 0; i < photos.length; i++) {
        // the inputs do differ (fast mode is not a no-op) ...
        let maxDiff = 0;
        for (let j = 0; j < exact.tensors[i]!.length; j++) maxDiff = Math.max(maxDiff, Math.abs(exact.tensors[i]![j]! - fast.tensors[i]![j]!));
        expect(maxDiff).toBeGreaterThan(0);
        // ... and the vectors point the same way
        const a = exact.vectors.subarray(i * dim, (i + 1) * dim);
        const b = fast.vectors.subarray(i * dim, (i + 1) * dim);
        let dot = 0;
        let na = 0;
        let nb = 0;
        for (let j = 0; j < dim; j++) {
          dot += a[j]! * b[j]!;
          na += a[j]! * a[j]!;
          nb += b[j]! * b[j]!;
        }
        expect(dot / Math.sqrt(na * nb)).toBeGreaterThan(0.999);
      }
    } finally {
      await sessions.close();
    }
  });

  it('leaves images it cannot scale to the exact paths', async () => {
    const small = await preprocessImage(await encode(variants[6]!, 9), clip, { mode: 'fast' }); // 97x61: upscaled
    expect(small.pipeline).toBe('native');
    const png = await preprocessImage(fixture('odd-portrait.png'), clip, { mode: 'fast' });
    expect(png.pipeline).toBe('sharp');
    expect(png.tensor).toEqual((await preprocessImage(fixture('odd-portrait.png'), clip)).tensor);
  });
});

describe('PreprocessPool with the native path', () => {
  const pools = { exact: new PreprocessPool({ threads: 1 }), fast: new PreprocessPool({ threads: 1, mode: 'fast' }), sharp: new PreprocessPool({ threads: 1, decoder: 'sharp' }) };
  afterAll(() => Promise.all(Object.values(pools).map((p) => p.close())));

  it('uses the addon on its threads by default, DCT scaling when asked, sharp when asked', async () => {
    const bytes = await encode(variants[0]!, 11);
    const [exact, fast, viaSharp] = await Promise.all([pools.exact.preprocess(bytes, clip), pools.fast.preprocess(bytes, clip), pools.sharp.preprocess(bytes, clip)]);
    expect([exact.pipeline, fast.pipeline, viaSharp.pipeline]).toEqual(['native', 'native-scaled', 'sharp']);
    expect(exact.tensor).toEqual(viaSharp.tensor);
    expect(exact.tensor).toEqual((await preprocessImage(bytes, clip)).tensor);
    expect(fast.tensor).toEqual((await preprocessImage(bytes, clip, { mode: 'fast' })).tensor);
  });

  it('fails a corrupt JPEG alone, with the reason the sharp path gives, and goes on', async () => {
    const bytes = await encode(variants[0]!, 12);
    const results = await Promise.allSettled([pools.exact.preprocess(bytes.subarray(0, bytes.length >> 1), clip), pools.exact.preprocess(bytes, clip)]);
    expect(results[0]).toMatchObject({ status: 'rejected', reason: { reason: 'corrupt' } });
    expect(results[1]).toMatchObject({ status: 'fulfilled', value: { pipeline: 'native' } });
  });
});
