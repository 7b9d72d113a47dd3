import { crc32 } from 'node:zlib';
import { decodeImage, ImageDecodeError, type RgbImage } from '@select/vision';
import sharp from 'sharp';
import { DiffusionInputError } from './errors.js';

export type OutputFormat = 'png' | 'jpeg';

/** PNG text keyword of the embedded generation parameters (the key AUTOMATIC1111 and ComfyUI read). */
export const PARAMETERS_KEYWORD = 'parameters';

/**
 * Encodes interleaved RGB pixels as PNG or JPEG with the generation parameters (JSON) embedded: a PNG
 * tEXt chunk `parameters`, or a JPEG comment (COM) segment — both survive `sharp`/PIL round trips and
 * show up in exiftool.
 */
export async function encodeImage(
  rgb: Uint8Array,
  width: number,
  height: number,
  format: OutputFormat,
  parametersJson: string,
): Promise<{ bytes: Buffer; mimeType: string }> {
  const image = sharp(rgb, { raw: { width, height, channels: 3 } });
  if (format === 'png') {
    const png = await image.png({ compressionLevel: 6 }).toBuffer();
    return { bytes: insertPngText(png, PARAMETERS_KEYWORD, parametersJson), mimeType: 'image/png' };
  }
  const jpeg = await image.jpeg({ quality: 95 }).toBuffer();
  return { bytes: insertJpegComment(jpeg, parametersJson), mimeType: 'image/jpeg' };
}

function insertPngText(png: Buffer, keyword: string, text: string): Buffer {
  const data = Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0]), Buffer.from(text, 'latin1')]);
  const chunk = Buffer.alloc(12 + data.length);
  chunk.writeUInt32BE(data.length, 0);
  chunk.write('tEXt', 4, 'latin1');
  data.copy(chunk, 8);
  chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + data.length)), 8 + data.length);
  // Before IEND, the last 12 bytes of any PNG.
  return Buffer.concat([png.subarray(0, png.length - 12), chunk, png.subarray(png.length - 12)]);
}

function insertJpegComment(jpeg: Buffer, text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  if (body.length > 65533) throw new DiffusionInputError('generation parameters too long for a JPEG comment; use PNG');
  const segment = Buffer.alloc(4 + body.length);
  segment.writeUInt16BE(0xfffe, 0);
  segment.writeUInt16BE(body.length + 2, 2);
  body.copy(segment, 4);
  return Buffer.concat([jpeg.subarray(0, 2), segment, jpeg.subarray(2)]);
}

/** Reads back the parameters JSON embedded by `encodeImage` (undefined when there is none). */
export function readEmbeddedParameters(bytes: Uint8Array): string | undefined {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.subarray(1, 4).toString('latin1') === 'PNG') {
    for (let off = 8; off + 12 <= buf.length; ) {
      const len = buf.readUInt32BE(off);
      const type = buf.toString('latin1', off + 4, off + 8);
      if (type === 'tEXt') {
        const data = buf.subarray(off + 8, off + 8 + len);
        const nul = data.indexOf(0);
        if (data.toString('latin1', 0, nul) === PARAMETERS_KEYWORD) return data.toString('latin1', nul + 1);
      }
      off += 12 + len;
    }
    return undefined;
  }
  if (buf[0] === 0xff && buf[1] === 0xd8) {
    for (let off = 2; off + 4 <= buf.length && buf[off] === 0xff; ) {
      const marker = buf[off + 1]!;
      const len = buf.readUInt16BE(off + 2);
      if (marker === 0xfe) return buf.toString('utf8', off + 4, off + 2 + len);
      if (marker === 0xda) break;
      off += 2 + len;
    }
  }
  return undefined;
}

/**
 * Decodes an uploaded image to an NCHW float tensor in [-1, 1] of exactly width×height (the VAE
 * encoder's input). Decoding is @select/vision's policy (EXIF orientation applied, transparency
 * composited onto white, CMYK and 16-bit handled as Pillow does, decompression bombs refused); a resize,
 * when needed, is Lanczos to fill as diffusers' VaeImageProcessor does (vision resamples only bicubic
 * and bilinear). Passing no size keeps the image's own, rounded down to a multiple of 8 (diffusers' default).
 */
export async function decodeInitImage(
  bytes: Uint8Array,
  size?: { width: number; height: number },
): Promise<{ tensor: Float32Array; width: number; height: number }> {
  let rgb: RgbImage;
  try {
    rgb = (await decodeImage(bytes)).image;
  } catch (cause) {
    if (!(cause instanceof ImageDecodeError)) throw cause;
    throw new DiffusionInputError(`init image cannot be decoded: ${cause.message}`, { cause });
  }
  const width = size?.width ?? Math.floor(rgb.width / 8) * 8;
  const height = size?.height ?? Math.floor(rgb.height / 8) * 8;
  if (width < 8 || height < 8) throw new DiffusionInputError(`init image is ${rgb.width}×${rgb.height}, smaller than 8×8`);
  let pixels = rgb.data;
  if (width !== rgb.width || height !== rgb.height) {
    pixels = await sharp(rgb.data, { raw: { width: rgb.width, height: rgb.height, channels: 3 } })
      .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
      .raw()
      .toBuffer();
  }
  const plane = width * height;
  const tensor = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) tensor[c * plane + p] = (pixels[p * 3 + c]! / 255) * 2 - 1;
  }
  return { tensor, width, height };
}

/** VAE decoder output (NCHW, about [-1, 1]) to interleaved RGB bytes, rounding as diffusers does. */
export function decodedToRgb(sample: Float32Array, width: number, height: number): Uint8Array {
  const plane = width * height;
  const rgb = new Uint8Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      const v = Math.min(1, Math.max(0, sample[c * plane + p]! / 2 + 0.5));
      rgb[p * 3 + c] = Math.round(v * 255);
    }
  }
  return rgb;
}

// Least-squares map from SD 1.x latents to RGB (the "latent2rgb" preview used by web UIs): a preview
// for the cost of a matrix product instead of a VAE decode.
const LATENT_TO_RGB = [
  [0.298, 0.207, 0.208],
  [0.187, 0.286, 0.173],
  [-0.158, 0.189, 0.264],
  [-0.184, -0.271, -0.473],
] as const;

/** A latent-resolution (1/8) PNG preview of the current latents. */
export async function latentPreviewPng(latents: Float32Array, latentWidth: number, latentHeight: number): Promise<Buffer> {
  const plane = latentWidth * latentHeight;
  const rgb = new Uint8Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      let v = 0;
      for (let k = 0; k < 4; k++) v += latents[k * plane + p]! * LATENT_TO_RGB[k]![c]!;
      rgb[p * 3 + c] = Math.round(Math.min(1, Math.max(0, (v + 1) / 2)) * 255);
    }
  }
  return sharp(rgb, { raw: { width: latentWidth, height: latentHeight, channels: 3 } }).png().toBuffer();
}
