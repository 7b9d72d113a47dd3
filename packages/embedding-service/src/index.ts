// Public entry of @select/embedding-service: gRPC embedding service for CLIP-style image-text, image-only and
// sentence encoders on local ONNX exports, plus the engine and model-layout reader it is built from.
export { embeddingConfigSchema, type EmbeddingConfig } from './config.js';
export { SERVICE_NAME, defaultInferenceWorkers, pickDefaultModel, startEmbeddingServer, type EmbeddingServer } from './server.js';
export { EmbeddingEngine, l2Normalize, type BatchingOptions, type EngineOptions, type TextVector } from './embedding-engine.js';
export { readModelDir, scanModels, type ImageTower, type ModelFileInfo, type ModelKind, type ModelSpec, type TextTower } from './model-layout.js';
export { TextTokenizer, type TokenizedText } from './text-tokenizer.js';
export { modelInfo } from './model-info.js';
export { EMBED_DATASET_JOB, datasetJobHandlers, embedDatasetJob, openDatasetJobs, type DatasetJobsOptions } from './embed-dataset-job.js';
export { DATASET_FORMATS, embedDataset, type DatasetFormat, type DatasetJobParams, type DatasetJobProgress } from './dataset-embedding.js';
export { ImagePathError, ModelLayoutError, TextInputError, UnknownModelError, UnsupportedInputError } from './errors.js';
