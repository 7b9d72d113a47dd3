import type { SourceImageInfo } from './decode.js';
import type { ImageErrorReason } from './errors.js';
import type { ImagePreprocessing, PreprocessMode, PreprocessPipeline } from './preprocess.js';

export interface PreprocessWorkerInit {
  maxPixels: number;
  mode: PreprocessMode;
  decoder: 'auto' | 'sharp';
  niceness: number;
}

export interface PreprocessRequest {
  id: number;
  bytes: Uint8Array;
  spec: ImagePreprocessing;
  /** A shared buffer (SharedArrayBuffer view) to write the tensor into; it comes back as the tensor, or as `spare` on failure. */
  into?: Float32Array;
}

export type PreprocessReply =
  | { id: number; ok: true; tensor: Float32Array; source: SourceImageInfo; pipeline: PreprocessPipeline }
  | { id: number; ok: false; reason: ImageErrorReason | null; message: string; spare?: Float32Array };
