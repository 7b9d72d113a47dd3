import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImage } from './decode.js';
import { ImageDecodeError } from './errors.js';
import { fromHfImageProcessorConfig, fromTimmPretrainedCfg } from './model-configs.js';
import { planResize, preprocessImage, resizeAndCrop, type ImagePreprocessing } from './preprocess.js';

const FIXTURES = fileURLToPath(new URL('../../../tools/fixtures/embedding/', import.meta.url));
const reference = JSON.parse(readFileSync(join(FIXTURES, 'reference/reference.json'), 'utf8')) as { images: string[] };
const json = (path: string) => JSON.parse(readFileSync(join(FIXTURES, path), 'utf8')) as Record<string, unknown>;

const specs: Record<string, ImagePreprocessing> = {
  'tiny-clip': fromHfImageProcessorConfig(json('models/tiny-clip/preprocessor_config.json')),
  'tiny-resnet': fromTimmPretrainedCfg(json('models/tiny-resnet/config.json')['pretrained_cfg'] as Record<string, unknown>),
};

async function referenceCrop(model: string, image: string): Promise<Uint8Array> {
  const { data } = await sharp(join(FIXTURES, 'reference', model, `${image}.png`)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return new Uint8Array(data);
}

describe('preprocessing matches the Python reference pixel for pixel', () => {
  for (const [model, spec] of Object.entries(specs)) {
    for (const image of reference.images) {
      it(`${model}: ${image}`, async () => {
        const { image: rgb } = await decodeImage(readFileSync(join(FIXTURES, 'images', image)));
        const crop = resizeAndCrop(rgb, spec);
        const expected = await referenceCrop(model, image);
        let maxDiff = 0;
        for (let i = 0; i < expected.length; i++) maxDiff = Math.max(maxDiff, Math.abs(crop.data[i]! - expected[i]!));
        expect(crop.data.length).toBe(expected.length);
        expect(maxDiff).toBe(0);
      });
    }
  }
});

describe('decoding policy, case by case (README table)', () => {
  const decode = (name: string) => decodeImage(readFileSync(join(FIXTURES, 'images', name)));
  const pixel = (data: Uint8Array, width: number, x: number, y: number) => Array.from(data.subarray((y * width + x) * 3, (y * width + x) * 3 + 3));

  it('EXIF orientation is applied: a 300x225 JPEG tagged Orientation 6 comes out 225x300', async () => {
    const { image, source } = await decode('exif-rotated.jpg');
    expect(source).toMatchObject({ width: 300, height: 225, orientation: 6 });
    expect([image.width, image.height]).toEqual([225, 300]);
  });

  it('grayscale is replicated to three equal channels', async () => {
    const { image, source } = await decode('grayscale.jpg');
    expect(source.space).toBe('b-w');
    let unequal = 0;
    for (let i = 0; i < image.data.length; i += 3) if (image.data[i] !== image.data[i + 1] || image.data[i] !== image.data[i + 2]) unequal++;
    expect(unequal).toBe(0);
  });

  it('CMYK JPEGs become RGB (Pillow\'s plain formula: the crops equal Pillow\'s above, cmyk.jpg)', async () => {
    const { image, source } = await decode('cmyk.jpg');
    expect(source.space).toBe('cmyk');
    expect(image.data.length).toBe(image.width * image.height * 3);
  });

  it('transparency is composited onto white, not dropped', async () => {
    const { image, source } = await decode('alpha.png');
    expect(source.hasAlpha).toBe(true);
    expect(pixel(image.data, image.width, 0, 0)).toEqual([255, 255, 255]); // the fully transparent corner
  });

  it('16-bit PNGs keep the high byte of each sample, grey included (Pillow would clip grey at 255)', async () => {
    for (const name of ['rgb16.png', 'gray16.png']) {
      const bytes = readFileSync(join(FIXTURES, 'images', name));
      const { image, source } = await decodeImage(bytes);
      expect(source.space).toMatch(/16$/);
      const { data, info } = await sharp(bytes).toColourspace(name === 'rgb16.png' ? 'rgb16' : 'grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
      const samples = new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
      const channels = info.channels;
      for (let p = 0; p < image.width * image.height; p += 97) {
        for (let c = 0; c < 3; c++) expect(image.data[p * 3 + c]).toBe(samples[p * channels + (channels === 1 ? 0 : c)]! >> 8);
      }
    }
  });

  it('animated images give their first frame only', async () => {
    const bytes = readFileSync(join(FIXTURES, 'images', 'animated.gif'));
    const { image, source } = await decodeImage(bytes);
    expect(source.pages).toBe(3);
    expect([image.width, image.height]).toEqual([100, 80]);
    const frame = (page: number) => sharp(bytes, { page }).flatten({ background: '#ffffff' }).removeAlpha().raw().toBuffer();
    expect(Buffer.from(image.data).equals(await frame(0))).toBe(true);
    expect(Buffer.from(image.data).equals(await frame(1))).toBe(false);
  });
});

describe('bad images fail clearly, by reason', () => {
  const landscape = readFileSync(join(FIXTURES, 'images/landscape.jpg'));
  const spec = specs['tiny-clip']!;

  it('empty bytes', async () => {
    await expect(preprocessImage(new Uint8Array(0), spec)).rejects.toMatchObject({ reason: 'empty' });
  });

  it('bytes that are not an image', async () => {
    await expect(preprocessImage(new TextEncoder().encode('hello, not a picture'), spec)).rejects.toMatchObject({
      reason: 'unsupported-format',
    });
  });

  it('a truncated JPEG', async () => {
    const err = await preprocessImage(landscape.subarray(0, Math.floor(landscape.length / 2)), spec).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageDecodeError);
    expect(err).toMatchObject({ reason: 'corrupt' });
  });

  it('a decompression bomb is refused from its header, before decoding', async () => {
    // 6000 x 6000 of one colour: 108 MB of pixels in a few kB of PNG
    const bomb = await sharp({ create: { width: 6000, height: 6000, channels: 3, background: '#808080' } }).png().toBuffer();
    expect(bomb.length).toBeLessThan(200_000);
    const err = await preprocessImage(bomb, spec, { maxPixels: 10_000_000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ reason: 'too-many-pixels' });
    expect((err as Error).message).toContain('6000x6000');
  });

  it('a 1x1 image is upscaled, not refused', async () => {
    const { tensor } = await preprocessImage(readFileSync(join(FIXTURES, 'images/one-pixel.png')), spec);
    expect(tensor.length).toBe(3 * 224 * 224);
    // (200/255 - mean_r) / std_r everywhere in the red plane
    expect(tensor[0]).toBeCloseTo((200 / 255 - 0.48145466) / 0.26862954, 5);
    expect(tensor[224 * 224 - 1]).toBe(tensor[0]);
  });
});

describe('model configs', () => {
  it('CLIP config: shortest edge 224, bicubic, floor-centered 224 crop, OpenAI mean/std', () => {
    expect(specs['tiny-clip']).toEqual({
      resize: { mode: 'shortest-edge', size: 224 },
      interpolation: 'bicubic',
      crop: { width: 224, height: 224, offset: 'floor' },
      rescale: 1 / 255,
      mean: [0.48145466, 0.4578275, 0.40821073],
      std: [0.26862954, 0.26130258, 0.27577711],
    });
  });

  it('timm config with crop_pct 0.875: Resize 256 bicubic, CenterCrop 224, ImageNet mean/std', () => {
    expect(specs['tiny-resnet']).toMatchObject({
      resize: { mode: 'shortest-edge', size: 256 },
      interpolation: 'bicubic',
      crop: { width: 224, height: 224, offset: 'round-half-even' },
      mean: [0.485, 0.456, 0.406],
    });
  });

  it('odd crop margins land where each ecosystem puts them', () => {
    // 259 wide after resize: margin 35 -> Hugging Face floors to 17, torchvision rounds 17.5 to even 18
    const hf = planResize(259, 224, specs['tiny-clip']!);
    const tv = planResize(259 * 256 / 224, 256, { ...specs['tiny-resnet']!, resize: { mode: 'fixed', width: 259, height: 224 } });
    expect(hf.window.left).toBe(17);
    expect(tv.window.left).toBe(18);
  });
});
