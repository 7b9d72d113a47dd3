import { decodeImage, type DecodeOptions, type RgbImage, type SourceImageInfo } from './decode.js';
import { ImageDecodeError } from './errors.js';
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

/** Per channel, the float each 8-bit value maps to, computed in float32 steps as torchvision does. */
function lookupTables(spec: ImagePreprocessing): Float32Array[] {
  const f = Math.fround;
  return [0, 1, 2].map((c) => {
    const lut = new Float32Array(256);
    const mean = f(spec.mean[c]!);
    const std = f(spec.std[c]!);
    for (let v = 0; v < 256; v++) lut[v] = f(f(f(v * spec.rescale) - mean) / std);
    return lut;
  });
}

const lutCache = new WeakMap<ImagePreprocessing, Float32Array[]>();

/**
 * Write an 8-bit RGB image (already resized and cropped to the output size) as a normalised CHW tensor into
 * `out` at `offset`, so a batch can be filled in place.
 */
export function writeTensor(image: RgbImage, spec: ImagePreprocessing, out: Float32Array, offset = 0): void {
  let luts = lutCache.get(spec);
  if (!luts) {
    luts = lookupTables(spec);
    lutCache.set(spec, luts);
  }
  const plane = image.width * image.height;
  const [r, g, b] = luts as [Float32Array, Float32Array, Float32Array];
  const src = image.data;
  for (let i = 0; i < plane; i++) {
    out[offset + i] = r[src[i * 3]!]!;
    out[offset + plane + i] = g[src[i * 3 + 1]!]!;
    out[offset + 2 * plane + i] = b[src[i * 3 + 2]!]!;
  }
}

export interface PreprocessedImage {
  /** 3 x height x width float32, normalised. */
  tensor: Float32Array;
  source: SourceImageInfo;
}

/** Decode encoded bytes and preprocess them for a model: the whole per-image path of an image embedding. */
export async function preprocessImage(
  bytes: Uint8Array,
  spec: ImagePreprocessing,
  options?: DecodeOptions,
): Promise<PreprocessedImage> {
  const { image, source } = await decodeImage(bytes, options);
  const cropped = resizeAndCrop(image, spec);
  const tensor = new Float32Array(3 * cropped.width * cropped.height);
  writeTensor(cropped, spec, tensor);
  return { tensor, source };
}
