import { addDecodeDefaults, decodeImage, type DecodeOptions, type RgbImage, type SourceImageInfo } from './decode.js';
import { ImageDecodeError } from './errors.js';
import { JCS_GRAYSCALE, JCS_RGB, JCS_YCBCR, nativePreprocess } from './native-preprocess.js';
import { resampleRgb, type Interpolation, type ResampleWindow } from './resample.js';

/**
 * How a model wants its pixels: resize, optional center crop, rescale and per-channel normalisation, in that
 * order, into a float32 CHW tensor. Build one from a model's own config with `fromHfImageProcessorConfig` or
 * `fromTimmPretrainedCfg`.
 */
export interface ImagePreprocessing {
  resize: { mode: 'shortest-edge'; size: number } | { mode: 'fixed'; width: number; height: number };
  interpolation: Interpolation;
  /**
   * Center crop after the resize. The offset of an odd margin differs between ecosystems: Hugging Face floors
   * `(size - crop) / 2`, torchvision (timm) rounds it half to even.
   */
  crop: { width: number; height: number; offset: 'floor' | 'round-half-even' } | null;
  /** Multiplier from 8-bit values to the model's range, usually 1/255. */
  rescale: number;
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

/** Width and height of the tensor a preprocessing produces. */
export function outputSize(spec: ImagePreprocessing): { width: number; height: number } {
  if (spec.crop) return { width: spec.crop.width, height: spec.crop.height };
  if (spec.resize.mode === 'fixed') return { width: spec.resize.width, height: spec.resize.height };
  throw new ImageDecodeError('invalid-preprocessing', 'a shortest-edge resize without a crop has no fixed output size');
}

/** Floats in one preprocessed image: 3 x height x width. */
export function tensorLength(spec: ImagePreprocessing): number {
  const { width, height } = outputSize(spec);
  return 3 * width * height;
}

/** Where the resize lands and which window of it the crop keeps (exported for tests and diagnostics). */
export function planResize(width: number, height: number, spec: ImagePreprocessing): { width: number; height: number; window: ResampleWindow } {
  let rw: number;
  let rh: number;
  if (spec.resize.mode === 'fixed') {
    rw = spec.resize.width;
    rh = spec.resize.height;
  } else {
    // transformers' get_resize_output_image_size and torchvision's Resize(int): int(size * long / short)
    const size = spec.resize.size;
    if (width <= height) {
      rw = size;
      rh = Math.trunc((size * height) / width);
    } else {
      rh = size;
      rw = Math.trunc((size * width) / height);
    }
  }
  if (!spec.crop) return { width: rw, height: rh, window: { left: 0, top: 0, width: rw, height: rh } };
  const { width: cw, height: ch, offset } = spec.crop;
  if (cw > rw || ch > rh) {
    throw new ImageDecodeError(
      'invalid-preprocessing',
      `crop ${cw}x${ch} is larger than the resized image ${rw}x${rh}; the model's preprocessing config is inconsistent`,
    );
  }
  const place = offset === 'floor' ? (d: number) => Math.floor(d / 2) : (d: number) => roundHalfEven(d / 2);
  return { width: rw, height: rh, window: { left: place(rw - cw), top: place(rh - ch), width: cw, height: ch } };
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Resized and cropped 8-bit RGB, before rescale and normalisation: what the reference PNGs store. */
export function resizeAndCrop(image: RgbImage, spec: ImagePreprocessing): RgbImage {
  const plan = planResize(image.width, image.height, spec);
  const data = resampleRgb(image.data, image.width, image.height, plan.width, plan.height, spec.interpolation, plan.window);
  return { data, width: plan.window.width, height: plan.window.height };
}

/**
 * The float each 8-bit value maps to, per channel (3 x 256: red, green, blue), computed in float32 steps as
 * torchvision does. Cached by value: worker threads receive a fresh copy of the spec with every image.
 */
function normalisationTable(spec: ImagePreprocessing): Float32Array {
  const key = `${spec.rescale}|${spec.mean.join(',')}|${spec.std.join(',')}`;
  let table = tableCache.get(key);
  if (table) return table;
  const f = Math.fround;
  table = new Float32Array(768);
  for (let c = 0; c < 3; c++) {
    const mean = f(spec.mean[c]!);
    const std = f(spec.std[c]!);
    for (let v = 0; v < 256; v++) table[c * 256 + v] = f(f(f(v * spec.rescale) - mean) / std);
  }
  if (tableCache.size >= 64) tableCache.clear(); // a handful of models in practice; never unbounded
  tableCache.set(key, table);
  return table;
}

const tableCache = new Map<string, Float32Array>();

/**
 * Write an 8-bit RGB image (already resized and cropped to the output size) as a normalised CHW tensor into
 * `out` at `offset`, so a batch can be filled in place.
 */
export function writeTensor(image: RgbImage, spec: ImagePreprocessing, out: Float32Array, offset = 0): void {
  const table = normalisationTable(spec);
  const plane = image.width * image.height;
  const src = image.data;
  for (let i = 0; i < plane; i++) {
    out[offset + i] = table[src[i * 3]!]!;
    out[offset + plane + i] = table[256 + src[i * 3 + 1]!]!;
    out[offset + 2 * plane + i] = table[512 + src[i * 3 + 2]!]!;
  }
}

/**
 * How much of Pillow's exactness a preprocessing keeps.
 * - `'exact'`: the pixels Pillow gives (full decode, Pillow's resample), bit for bit;
 * - `'fast'`: JPEGs are decoded at a reduced size by libjpeg-turbo's DCT scaling (the smallest N/8 of the stored
 *   size that still covers the resize target — what Pillow's `Image.draft` does with powers of two), then
 *   resampled exactly from there. Not Pillow's pixels; vectors agree closely (README). Other formats: exact.
 */
export type PreprocessMode = 'exact' | 'fast';

export interface PreprocessOptions extends DecodeOptions {
  /** @default 'exact' */
  mode?: PreprocessMode;
  /**
   * `'auto'`: JPEGs that the native addon can take exactly as sharp would (YCbCr, RGB or grey, 8-bit, no ICC
   * profile, EXIF orientation 1 or none, no libjpeg warning) go through it, everything else through sharp;
   * `'sharp'`: everything through sharp and the TypeScript resample (the reference the native path is tested
   * against). Both give the same tensors in `'exact'` mode.
   * @default 'auto'
   */
  decoder?: 'auto' | 'sharp';
  /**
   * Where to write the tensor: used when its length is exactly the tensor's (3 x height x width), otherwise a new
   * buffer is allocated. Reusing buffers spares the garbage collector ~600 KB per 224² image (PreprocessPool#recycle).
   */
  into?: Float32Array;
}

/** `into` when it has exactly `length` elements, else a new buffer. */
function tensorBuffer(into: Float32Array | undefined, length: number): Float32Array {
  return into !== undefined && into.length === length ? into : new Float32Array(length);
}

/** Which way an image went: the native addon at full size, the native addon with DCT scaling, or sharp. */
export type PreprocessPipeline = 'native' | 'native-scaled' | 'sharp';

export interface PreprocessedImage {
  /** 3 x height x width float32, normalised. */
  tensor: Float32Array;
  source: SourceImageInfo;
  pipeline: PreprocessPipeline;
}

function isJpeg(bytes: Uint8Array): boolean {
  return bytes.byteLength > 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

/** The smallest N in 1..8 such that decoding at N/8 (libjpeg rounds sizes up) still covers width x height. */
export function dctScaleFor(storedWidth: number, storedHeight: number, width: number, height: number): number {
  for (let n = 1; n < 8; n++) {
    if (Math.ceil((storedWidth * n) / 8) >= width && Math.ceil((storedHeight * n) / 8) >= height) return n;
  }
  return 8;
}

/**
 * The native path: null when the addon is not built or the image is one it leaves to sharp (then nothing about
 * the result or the error differs from the sharp path, which runs next).
 */
function preprocessJpegNatively(bytes: Uint8Array, spec: ImagePreprocessing, mode: PreprocessMode, maxPixels: number, into: Float32Array | undefined): PreprocessedImage | null {
  const addon = nativePreprocess();
  if (addon === null || !isJpeg(bytes)) return null;
  const info = addon.jpegInfo(bytes);
  if (info === null || info.precision !== 8 || info.icc || info.exifSegments > 1 || (info.orientation !== 0 && info.orientation !== 1)) return null;
  const grey = info.colorSpace === JCS_GRAYSCALE && info.components === 1;
  const colour = (info.colorSpace === JCS_YCBCR || info.colorSpace === JCS_RGB) && info.components === 3;
  if ((!grey && !colour) || info.width * info.height > maxPixels) return null;
  let plan: ReturnType<typeof planResize>;
  try {
    plan = planResize(info.width, info.height, spec);
  } catch {
    return null; // an inconsistent spec: the sharp path reports it after decoding, as it always has
  }
  const scale = mode === 'fast' ? dctScaleFor(info.width, info.height, plan.width, plan.height) : 8;
  const { left, top, width, height } = plan.window;
  const tensor = tensorBuffer(into, 3 * width * height);
  const filter = spec.interpolation === 'bilinear' ? 1 : 0;
  const status = addon.decodeResample(bytes, scale, plan.width, plan.height, left, top, width, height, filter, normalisationTable(spec), tensor, 0);
  if (status !== 0) return null;
  const source: SourceImageInfo = {
    format: 'jpeg',
    width: info.width,
    height: info.height,
    orientation: 1,
    space: grey ? 'b-w' : 'srgb',
    hasAlpha: false,
    pages: 1,
  };
  return { tensor, source, pipeline: scale === 8 ? 'native' : 'native-scaled' };
}

/**
 * Decode encoded bytes and preprocess them for a model: the whole per-image path of an image embedding. JPEGs
 * the native addon takes are processed synchronously on the calling thread (~2 ms for a 500x375 photo; use
 * PreprocessPool to keep them off an event loop that serves requests).
 */
export async function preprocessImage(bytes: Uint8Array, spec: ImagePreprocessing, options: PreprocessOptions = {}): Promise<PreprocessedImage> {
  const { mode = 'exact', decoder = 'auto' } = options;
  if (decoder === 'auto') {
    const native = preprocessJpegNatively(bytes, spec, mode, addDecodeDefaults(options).maxPixels, options.into);
    if (native !== null) return native;
  }
  const { image, source } = await decodeImage(bytes, options);
  const cropped = resizeAndCrop(image, spec);
  // a native attempt that gave up part-way may have written into `into`: every element is written again here
  const tensor = tensorBuffer(options.into, 3 * cropped.width * cropped.height);
  writeTensor(cropped, spec, tensor);
  return { tensor, source, pipeline: 'sharp' };
}
