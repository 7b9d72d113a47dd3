import type { SourceImageInfo } from './decode.js';
import type { ImageErrorReason } from './errors.js';
import type { ImagePreprocessing } from './preprocess.js';

export interface PreprocessWorkerInit {
  maxPixels: number;
}

export interface PreprocessRequest {
  id: number;
  bytes: Uint8Array;
  spec: ImagePreprocessing;
}

export type PreprocessReply =
  | { id: number; ok: true; tensor: Float32Array; source: SourceImageInfo }
  | { id: number; ok: false; reason: ImageErrorReason | null; message: string };
