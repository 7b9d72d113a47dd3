import sharp from 'sharp';
import { ImageDecodeError } from './errors.js';

/** Decoded pixels: interleaved 8-bit RGB, rows top to bottom, as the image is meant to be seen. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** What the encoded image was, before the decoding policy turned it into 8-bit RGB. */
export interface SourceImageInfo {
  format: string;
  /** Stored size, before EXIF orientation. */
  width: number;
  height: number;
  /** EXIF orientation tag (1 when absent). */
  orientation: number;
  /** libvips interpretation: 'srgb', 'b-w', 'cmyk', 'rgb16', 'grey16', ... */
  space: string;
  hasAlpha: boolean;
  /** Frames in the file; only the first is used. */
  pages: number;
}

export interface DecodeOptions {
  /**
   * Largest pixel count (width x height of one frame) accepted; larger images are refused before any pixel is
   * decoded, which is what stops decompression bombs.
   * @default 40_000_000
   */
  maxPixels?: number;
}

/** @internal The decode options with defaults filled in. */
export function addDecodeDefaults(options: DecodeOptions = {}): Required<DecodeOptions> {
  return { maxPixels: options.maxPixels ?? 40_000_000 };
}

/**
 * Decode an encoded image (JPEG, PNG, WebP, GIF, TIFF, AVIF) to 8-bit RGB with a deliberate policy, the same
 * that tools/fixtures/embedding/generate.py applies in Python:
 * - only the first frame of animated images;
 * - EXIF orientation applied (the image as viewers show it);
 * - 16-bit samples reduced to their high byte (Pillow does this for 16-bit RGB; for 16-bit grey it clips
 *   instead, which whitens the image, so we do not follow it there);
 * - CMYK converted with Pillow's formula (R = (255 - C)(255 - K)/255), not through an ICC profile, so that
 *   vectors match Python pipelines;
 * - transparency composited onto white with Pillow's `alpha_composite` arithmetic (transformers' convert_rgb).
 */
export async function decodeImage(bytes: Uint8Array, options?: DecodeOptions): Promise<{ image: RgbImage; source: SourceImageInfo }> {
  const { maxPixels } = addDecodeDefaults(options);
  if (bytes.byteLength === 0) throw new ImageDecodeError('empty', 'image is empty (0 bytes)');

  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new ImageDecodeError('unsupported-format', 'not a decodable image (expected JPEG, PNG, WebP, GIF, TIFF or AVIF)', {
      cause: err,
    });
  }
  const width = meta.width ?? 0;
  const height = meta.pageHeight ?? meta.height ?? 0;
  if (width <= 0 || height <= 0) throw new ImageDecodeError('corrupt', `image header declares no size (${width}x${height})`);
  if (width * height > maxPixels) {
    throw new ImageDecodeError(
      'too-many-pixels',
      `image is ${width}x${height} = ${width * height} pixels, more than the limit of ${maxPixels}`,
    );
  }
  const source: SourceImageInfo = {
    format: meta.format ?? 'unknown',
    width,
    height,
    orientation: meta.orientation ?? 1,
    space: meta.space ?? 'unknown',
    hasAlpha: meta.hasAlpha ?? false,
    pages: meta.pages ?? 1,
  };

  // 'truncated' fails on cut-off data (libvips would otherwise fill the rest with grey) but tolerates the benign
  // warnings (extraneous bytes, unknown markers) that Pillow tolerates too
  const input = () => sharp(bytes, { limitInputPixels: maxPixels, failOn: 'truncated', pages: 1, page: 0 }).rotate();
  try {
    if (source.space === 'cmyk') {
      const { data, info } = await input().pipelineColourspace('cmyk').toColourspace('cmyk').raw().toBuffer({ resolveWithObject: true });
      return { image: cmykToRgb(data, info.width, info.height, info.channels), source };
    }
    if (source.hasAlpha) {
      const { data, info } = await input().toColourspace('srgb').ensureAlpha().raw().toBuffer({ resolveWithObject: true });
      return { image: compositeOnWhite(data, info.width, info.height), source };
    }
    const { data, info } = await input().toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return { image: { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height }, source };
  } catch (err) {
    throw new ImageDecodeError('corrupt', `image data is corrupt or truncated (${(err as Error).message.trim()})`, { cause: err });
  }
}

// Pillow's cmyk2rgb (Convert.c): R = CLIP8(nk - MULDIV255(C, nk)) with nk = 255 - K
function cmykToRgb(cmyk: Uint8Array, width: number, height: number, channels: number): RgbImage {
  const n = width * height;
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const p = i * channels;
    const nk = 255 - cmyk[p + 3]!;
    for (let c = 0; c < 3; c++) {
      const t = cmyk[p + c]! * nk + 128;
      const v = nk - (((t >> 8) + t) >> 8);
      data[i * 3 + c] = v < 0 ? 0 : v;
    }
  }
  return { data, width, height };
}

// Pillow's ImagingAlphaComposite (AlphaComposite.c) of RGBA over opaque white, 7 extra bits of precision
function compositeOnWhite(rgba: Uint8Array, width: number, height: number): RgbImage {
  const n = width * height;
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const a = rgba[i * 4 + 3]!;
    if (a === 0) {
      data[i * 3] = data[i * 3 + 1] = data[i * 3 + 2] = 255;
      continue;
    }
    const outa255 = a * 255 + 255 * (255 - a);
    const coef1 = Math.floor((a * 255 * 255 * 128) / outa255);
    const coef2 = 255 * 128 - coef1;
    for (let c = 0; c < 3; c++) {
      const t = rgba[i * 4 + c]! * coef1 + 255 * coef2 + (0x80 << 7);
      data[i * 3 + c] = (((t >> 8) + t) >> 8) >> 7;
    }
  }
  return { data, width, height };
}
