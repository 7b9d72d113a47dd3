import type { EmbeddingEngine } from './embedding-engine.js';
import { toServiceError } from './item-errors.js';
import type { ModelSpec } from './model-layout.js';
import type { embeddingV1 } from '@select/contracts';

const KIND: Record<ModelSpec['kind'], embeddingV1.ModelKind__Output> = {
  'image-text': 'MODEL_KIND_IMAGE_TEXT',
  'image-only': 'MODEL_KIND_IMAGE_ONLY',
  'text-only': 'MODEL_KIND_TEXT_ONLY',
};

/** A model spec as the ModelInfo message: kind, dimension, preprocessing, context length, ONNX hashes. */
export function modelInfo(spec: ModelSpec): embeddingV1.ModelInfo {
  const p = spec.image?.preprocessing;
  const crop = p?.crop ?? null;
  const resizeSize = !p ? 0 : p.resize.mode === 'shortest-edge' ? p.resize.size : p.resize.height;
  return {
    name: spec.name,
    kind: KIND[spec.kind],
    dimension: spec.dimension,
    inputSize: crop ? crop.height : p?.resize.mode === 'fixed' ? p.resize.height : 0,
    preprocessing: p
      ? {
          resize: p.resize.mode === 'shortest-edge' ? 'shortest_edge' : 'fixed',
          resizeSize,
          interpolation: p.interpolation,
          cropSize: crop?.height ?? 0,
          mean: [...p.mean],
          std: [...p.std],
          rescale: p.rescale,
        }
      : null,
    maxTextTokens: spec.text?.maxTokens ?? 0,
    files: spec.files.map((f) => ({ name: f.name, sha256: f.sha256, sizeBytes: String(f.sizeBytes) })),
  };
}

export function listModelsHandler(engine: EmbeddingEngine) {
  return function listModels(): embeddingV1.ListModelsResponse {
    return { models: engine.specs.map(modelInfo) };
  };
}

export function getModelHandler(engine: EmbeddingEngine) {
  return function getModel(req: embeddingV1.GetModelRequest__Output): embeddingV1.ModelInfo {
    try {
      return modelInfo(engine.spec(req.name));
    } catch (err) {
      throw toServiceError(err);
    }
  };
}
