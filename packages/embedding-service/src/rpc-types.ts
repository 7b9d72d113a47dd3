// Request and response shapes of select.embedding.v1 as proto-loader produces them (camelCase, enums as
// names, 64-bit integers as strings, oneof names in a virtual field). @select/contracts generates these types
// but exports only the event payloads from its entry, so the service spells out the subset it uses.

export interface ItemErrorMsg {
  itemId: string;
  code: string;
  message: string;
}

export interface EmbedImageRequest {
  itemId: string;
  model: string;
  image?: Buffer;
  path?: string;
  source?: 'image' | 'path';
}

export interface EmbedImageResponse {
  itemId: string;
  embedding?: { vector: number[] | Float32Array };
  error?: ItemErrorMsg;
}

export interface EmbedTextsRequest {
  model: string;
  texts: string[];
}

export interface TextEmbeddingMsg {
  vector: number[] | Float32Array;
  tokenCount: number;
  truncated: boolean;
  error?: ItemErrorMsg;
}

export type ModelKindName = 'MODEL_KIND_IMAGE_TEXT' | 'MODEL_KIND_IMAGE_ONLY' | 'MODEL_KIND_TEXT_ONLY';

export interface ModelInfoMsg {
  name: string;
  kind: ModelKindName;
  dimension: number;
  inputSize: number;
  preprocessing: {
    resize: string;
    resizeSize: number;
    interpolation: string;
    cropSize: number;
    mean: number[];
    std: number[];
    rescale: number;
  } | null;
  maxTextTokens: number;
  files: Array<{ name: string; sha256: string; sizeBytes: string }>;
}

export interface EmbedDatasetRequest {
  model: string;
  inputUri: string;
  inputFormat: string;
  outputUri: string;
  embedImages: boolean;
  embedTexts: boolean;
  rowsPerFile: number;
}

export type JobStateName =
  | 'JOB_STATE_QUEUED'
  | 'JOB_STATE_RUNNING'
  | 'JOB_STATE_SUCCEEDED'
  | 'JOB_STATE_FAILED'
  | 'JOB_STATE_CANCELLED';

export interface JobStatusMsg {
  jobId: string;
  kind: string;
  state: JobStateName;
  done: string;
  total: string;
  unit: string;
  message: string;
  createdUnixMs: string;
  updatedUnixMs: string;
  outputUri: string;
}
