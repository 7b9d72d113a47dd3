// The only module that loads the JPEG decoder addon (native/jpeg-decode.c, built by `npm run build:native`):
// libjpeg-turbo called directly, on libuv's thread pool. When the addon is not built, callers fall back to sharp.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface NativeJpegResult {
  readonly data: Buffer;
  readonly width: number;
  readonly height: number;
}

interface NativeJpegModule {
  /** Resolves null for CMYK/YCCK JPEGs (left to sharp); rejects with libjpeg's message for bad bytes. */
  decodeJpeg(bytes: Buffer, failOnWarning: boolean, maxPixels: number): Promise<NativeJpegResult | null>;
  libjpegVersion(): string;
}

// The same relative path from src/ (tests) and dist/ (built package).
const ADDON = fileURLToPath(new URL('../build/Release/select_jpeg_decode.node', import.meta.url));

let loaded: NativeJpegModule | null | undefined;

/** The addon, loaded once; null when it is not built or does not load (no libjpeg at run time). */
export function nativeJpeg(): NativeJpegModule | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (existsSync(ADDON)) {
    try {
      loaded = createRequire(import.meta.url)(ADDON) as NativeJpegModule;
    } catch {
      loaded = null;
    }
  }
  return loaded;
}
