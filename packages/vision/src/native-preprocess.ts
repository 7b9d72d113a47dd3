// The only module that loads the preprocessing addon (native/preprocess.c, built by `npm run build:native` and by
// the package's build target): libjpeg-turbo decode + Pillow's resample + normalise in one synchronous call. When
// the addon is not built or does not load, every image goes the sharp + TypeScript way (same results, more CPU).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** What libjpeg reads from a JPEG's header, and the markers the decoding policy depends on. */
export interface JpegInfo {
  width: number;
  height: number;
  components: number;
  /** libjpeg's J_COLOR_SPACE of the stored data (1 grayscale, 2 RGB, 3 YCbCr, 4 CMYK, 5 YCCK). */
  colorSpace: number;
  /** Bits per sample. */
  precision: number;
  /** EXIF IFD0 orientation: 0 when there is none, -1 when the EXIF block is not one this reader trusts. */
  orientation: number;
  /** APP1 segments holding EXIF. */
  exifSegments: number;
  /** An embedded ICC profile (sharp converts such images to sRGB through it). */
  icc: boolean;
}

/** libjpeg's J_COLOR_SPACE values the native path decodes itself. */
export const JCS_GRAYSCALE = 1;
export const JCS_RGB = 2;
export const JCS_YCBCR = 3;

interface NativePreprocessModule {
  /** Null when libjpeg cannot read the header without an error or warning. */
  jpegInfo(bytes: Uint8Array): JpegInfo | null;
  /**
   * Decodes at `scaleNum`/8 of the stored size, resamples (Pillow's algorithm, `filter` 0 bicubic / 1 bilinear)
   * to `dstWidth`x`dstHeight`, keeps the window, maps every 8-bit value through `luts` (3 x 256 floats, one table
   * per channel) into `out` from `offset` (3 planes of width x height). 0: done; 1: take the general path.
   */
  decodeResample(
    bytes: Uint8Array,
    scaleNum: number,
    dstWidth: number,
    dstHeight: number,
    left: number,
    top: number,
    width: number,
    height: number,
    filter: number,
    luts: Float32Array,
    out: Float32Array,
    offset: number,
  ): number;
  libjpegVersion(): string;
}

// The same relative path from src/ (tests) and dist/ (built package).
const ADDON = fileURLToPath(new URL('../build/Release/select_vision_preprocess.node', import.meta.url));

let loaded: NativePreprocessModule | null | undefined;

/** The addon, loaded once; null when it is not built or does not load (no libjpeg at run time). */
export function nativePreprocess(): NativePreprocessModule | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (existsSync(ADDON)) {
    try {
      loaded = createRequire(import.meta.url)(ADDON) as NativePreprocessModule;
    } catch {
      loaded = null;
    }
  }
  return loaded;
}

/**
 * The library behind the native JPEG path ('libjpeg-turbo 2.1.5'), or null when the addon is not built and every
 * image goes through sharp.
 */
export function nativeJpegDecoder(): string | null {
  return nativePreprocess()?.libjpegVersion() ?? null;
}
