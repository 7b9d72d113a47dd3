import sharp from 'sharp';
import { DatasetError, describeCause } from './errors.js';
import { nativeJpeg } from './native-jpeg.js';
import { mapOrdered } from './ordered-map.js';
import { errorRecord, sampleRecord, type PoolRecord } from './pool-record.js';

export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'svg' | 'unknown';

/** Image bytes as stored in the pool; nothing is decoded until a caller asks. */
export interface EncodedImage {
  readonly bytes: Buffer;
  /** From the bytes' signature, not the file name. */
  readonly format: ImageFormat;
}

/** Fields every pool sample has, so helpers can name the record in errors. */
export interface PoolSampleBase {
  /** Stable id of the item in its pool (sample key, image id, relative path, URL). */
  readonly sourceId: string;
  /** The file the record came from (shard, parquet, image file). */
  readonly file: string;
}

/** Interleaved 8-bit RGB pixels, row-major: the same array `np.asarray(img.convert('RGB'))` gives. */
export interface DecodedImage {
  readonly data: Buffer;
  readonly width: number;
  readonly height: number;
  readonly channels: 3;
}

export interface DecodeOptions {
  /**
   * Resize (bicubic) so the shorter side has this many pixels; leave unset for full-size pixels.
   * @default undefined
   */
  readonly shortSide?: number;
  /**
   * How damaged an image must be to count as undecodable (sharp's `failOn`). 'warning' also rejects
   * truncated JPEGs, which Pillow rejects too unless LOAD_TRUNCATED_IMAGES is set.
   * @default 'warning'
   */
  readonly failOn?: 'none' | 'truncated' | 'error' | 'warning';
  /**
   * Images decoded at once by decodeImages. Both decoders run on libuv's thread pool (4 threads unless
   * UV_THREADPOOL_SIZE says otherwise); keeping its queue filled keeps every core busy while the main
   * thread reads the shards. The decoded arrays of this many images are held at once, so lower it for
   * very large images.
   * @default 16
   */
  readonly concurrency?: number;
  /**
   * 'auto': full-size JPEGs (YCbCr, grey, RGB) are decoded by libjpeg-turbo directly (pixels equal to
   * Pillow's), everything else by sharp; 'sharp': every image by sharp/libvips (which also converts
   * JPEGs with an embedded ICC profile to sRGB, unlike Pillow). 'auto' uses sharp when the addon is not
   * built (see jpegDecoder()).
   * @default 'auto'
   */
  readonly decoder?: 'auto' | 'sharp';
}

type ResolvedDecodeOptions = Required<Omit<DecodeOptions, 'shortSide'>> & Pick<DecodeOptions, 'shortSide'>;

function addDecodeDefaults(options: DecodeOptions): ResolvedDecodeOptions {
  const resolved = { failOn: 'warning' as const, concurrency: 16, decoder: 'auto' as const, ...options };
  if (resolved.decoder !== 'auto' && resolved.decoder !== 'sharp') {
    throw new DatasetError('INVALID_OPTION', `decoder must be 'auto' or 'sharp', got ${String(resolved.decoder)}`);
  }
  if (!Number.isInteger(resolved.concurrency) || resolved.concurrency < 1) {
    throw new DatasetError('INVALID_OPTION', `concurrency must be a positive integer, got ${resolved.concurrency}`);
  }
  if (resolved.shortSide !== undefined && (!Number.isInteger(resolved.shortSide) || resolved.shortSide < 1)) {
    throw new DatasetError('INVALID_OPTION', `shortSide must be a positive integer, got ${resolved.shortSide}`);
  }
  return resolved;
}

export function sniffImageFormat(bytes: Buffer): ImageFormat {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 8 && bytes.readUInt32BE(0) === 0x89504e47 && bytes.readUInt32BE(4) === 0x0d0a1a0a) return 'png';
  if (bytes.length >= 12 && bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  if (bytes.length >= 6 && bytes.toString('latin1', 0, 4) === 'GIF8') return 'gif';
  const head = bytes.toString('latin1', 0, Math.min(bytes.length, 512)).trimStart();
  if (head.startsWith('<svg') || (head.startsWith('<?xml') && head.includes('<svg'))) return 'svg';
  return 'unknown';
}

/** sharp's default `limitInputPixels`, applied to both decoders. */
const MAX_INPUT_PIXELS = 0x3fff * 0x3fff;

/**
 * Which decoder full-size JPEGs go through: 'libjpeg-turbo <version>' (the package's addon, the library
 * Pillow decodes with, pixels equal to Pillow's) or 'sharp' when the addon is not built.
 */
export function jpegDecoder(): string {
  return nativeJpeg()?.libjpegVersion() ?? 'sharp';
}

/**
 * Fully decodes an image to 8-bit RGB (alpha dropped, grey and CMYK converted). Full-size JPEGs
 * (YCbCr, grey or RGB) are decoded by libjpeg-turbo directly, as Pillow decodes them (no ICC transform,
 * no EXIF rotation); everything else by sharp/libvips. Throws IMAGE_DECODE, located at `where`, for
 * bytes that do not decode.
 */
export async function decodeImage(
  bytes: Buffer,
  options: DecodeOptions = {},
  where: { file?: string; key?: string } = {},
): Promise<DecodedImage> {
  const { failOn, shortSide, decoder } = addDecodeDefaults(options);
  try {
    const native = decoder === 'auto' && shortSide === undefined && failOn !== 'truncated' ? nativeJpeg() : null;
    if (native !== null && sniffImageFormat(bytes) === 'jpeg') {
      const decoded = await native.decodeJpeg(bytes, failOn === 'warning', MAX_INPUT_PIXELS);
      if (decoded !== null) return { data: decoded.data, width: decoded.width, height: decoded.height, channels: 3 };
      // CMYK / YCCK: sharp converts those through their ICC profile.
    }
    let pipeline = sharp(bytes, { failOn }).removeAlpha().toColourspace('srgb');
    if (shortSide !== undefined) {
      pipeline = pipeline.resize({ width: shortSide, height: shortSide, fit: 'outside', kernel: 'cubic' });
    }
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
    return { data, width: info.width, height: info.height, channels: 3 };
  } catch (cause) {
    throw new DatasetError('IMAGE_DECODE', `image does not decode: ${describeCause(cause)}`, { ...where, cause });
  }
}

/**
 * Decodes the image of every sample of a pool stream, several at a time, in stream order. A sample
 * whose image does not decode becomes an IMAGE_DECODE error record naming its file and source id;
 * error records pass through untouched, cursors included.
 */
export function decodeImages<S extends PoolSampleBase & { readonly image: EncodedImage }>(
  records: AsyncIterable<PoolRecord<S>>,
  options: DecodeOptions = {},
): AsyncGenerator<PoolRecord<S & { readonly pixels: DecodedImage }>> {
  const resolved = addDecodeDefaults(options);
  return mapOrdered(
    records,
    async (record): Promise<PoolRecord<S & { readonly pixels: DecodedImage }>> => {
      if (!record.ok) return record;
      const { sample } = record;
      try {
        const pixels = await decodeImage(sample.image.bytes, resolved, { file: sample.file, key: sample.sourceId });
        return sampleRecord({ ...sample, pixels }, record.cursor);
      } catch (error) {
        if (error instanceof DatasetError) return errorRecord(error, record.cursor);
        throw error;
      }
    },
    resolved.concurrency,
  );
}
