import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage, jpegDecoder } from './image-decode.js';
import { makeTempDir } from './fixtures.test-util.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const PYTHON = join(ROOT, '.work/py/bin/python');
const hasPillow =
  existsSync(PYTHON) &&
  (() => {
    try {
      execFileSync(PYTHON, ['-c', 'import PIL, numpy'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

/** Noisy pixels with a gradient: JPEG has real work to do on every block. */
function noisyPixels(seed: number, width: number, height: number): Buffer {
  let state = (seed + 1) * 0x9e3779b1;
  const pixels = Buffer.alloc(width * height * 3);
  for (let i = 0; i < pixels.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const x = Math.floor(i / 3) % width;
    pixels[i] = Math.min(255, Math.floor((x * 255) / width) * 0.7 + ((state >>> 0) % 77));
  }
  return pixels;
}

/** JPEGs of the kinds a pool holds: 4:2:0, 4:4:4, progressive, grey, odd sizes, an embedded ICC profile. */
async function jpegKinds(): Promise<Record<string, Buffer>> {
  const raw = (seed: number, width: number, height: number) => sharp(noisyPixels(seed, width, height), { raw: { width, height, channels: 3 } });
  return {
    'q90 4:2:0 400x300': await raw(1, 400, 300).jpeg({ quality: 90 }).toBuffer(),
    'q95 4:4:4 131x77': await raw(2, 131, 77).jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toBuffer(),
    'q75 progressive 257x129': await raw(3, 257, 129).jpeg({ quality: 75, progressive: true }).toBuffer(),
    'grey 99x61': await raw(4, 99, 61).greyscale().jpeg({ quality: 85 }).toBuffer(),
    'Display P3 profile 64x48': await raw(5, 64, 48).withIccProfile('p3').jpeg({ quality: 90 }).toBuffer(),
  };
}

describe('decodeImage with the libjpeg-turbo addon', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ dir, cleanup } = await makeTempDir());
  });
  afterAll(async () => cleanup());

  it('decodes JPEGs with libjpeg-turbo (the addon is built)', () => {
    expect(jpegDecoder()).toMatch(/^libjpeg-turbo \d+\.\d+/);
  });

  it("gives the same pixels as decoder 'sharp' for JPEGs without a colour profile", async () => {
    const kinds = await jpegKinds();
    delete kinds['Display P3 profile 64x48'];
    for (const [name, bytes] of Object.entries(kinds)) {
      const ours = await decodeImage(bytes);
      const theirs = await decodeImage(bytes, { decoder: 'sharp' });
      expect({ name, width: ours.width, height: ours.height }).toEqual({ name, width: theirs.width, height: theirs.height });
      expect(ours.data.equals(theirs.data), name).toBe(true);
    }
    await expect(decodeImage(kinds['grey 99x61']!, { decoder: 'pillow' as 'auto' })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
  });

  it.skipIf(!hasPillow)('gives the same pixels as Pillow (np.asarray(img.convert("RGB"))), needs `bash scripts/python-env.sh`', async () => {
    const kinds = await jpegKinds();
    const names = Object.keys(kinds);
    names.forEach((name, i) => writeFileSync(join(dir, `${i}.jpg`), kinds[name]!));
    const script = [
      'import sys, numpy as np',
      'from PIL import Image',
      'for i in range(int(sys.argv[2])):',
      "    a = np.asarray(Image.open(f'{sys.argv[1]}/{i}.jpg').convert('RGB'))",
      "    open(f'{sys.argv[1]}/{i}.rgb', 'wb').write(a.tobytes())",
      "    print(a.shape[1], a.shape[0])",
    ].join('\n');
    const sizes = execFileSync(PYTHON, ['-c', script, dir, String(names.length)], { encoding: 'utf8' }).trim().split('\n');
    for (const [i, name] of names.entries()) {
      const ours = await decodeImage(kinds[name]!);
      expect(`${name}: ${ours.width} ${ours.height}`).toBe(`${name}: ${sizes[i]}`);
      const pillow = readFileSync(join(dir, `${i}.rgb`));
      expect(ours.data.equals(pillow), `${name}: pixels differ from Pillow's`).toBe(true);
    }
  });

  it('fails a truncated JPEG by default and decodes it with failOn "none"; fails bytes that are no JPEG', async () => {
    const bytes = await sharp(noisyPixels(6, 80, 60), { raw: { width: 80, height: 60, channels: 3 } }).jpeg().toBuffer();
    const cut = bytes.subarray(0, Math.floor(bytes.length * 0.6));
    await expect(decodeImage(cut, {}, { file: 'a.tar', key: 'k' })).rejects.toMatchObject({
      code: 'IMAGE_DECODE',
      message: expect.stringContaining('Premature end of JPEG file'),
    });
    const lenient = await decodeImage(cut, { failOn: 'none' });
    expect([lenient.width, lenient.height, lenient.data.length]).toEqual([80, 60, 80 * 60 * 3]);
    // JPEG signature, then garbage: libjpeg's own error, not a crash.
    await expect(decodeImage(Buffer.concat([bytes.subarray(0, 3), Buffer.from('not really a jpeg')]))).rejects.toMatchObject({ code: 'IMAGE_DECODE' });
  });

  it('leaves CMYK JPEGs to sharp, which converts them to RGB', async () => {
    const cmyk = await sharp(noisyPixels(7, 40, 30), { raw: { width: 40, height: 30, channels: 3 } }).toColourspace('cmyk').jpeg().toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const decoded = await decodeImage(cmyk);
    expect([decoded.width, decoded.height, decoded.channels, decoded.data.length]).toEqual([40, 30, 3, 40 * 30 * 3]);
  });
});
