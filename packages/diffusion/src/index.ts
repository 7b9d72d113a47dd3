// Public entry of @select/diffusion: Stable Diffusion pipelines (text-to-image, image-to-image, image
// variation) and schedulers (DDIM, Euler, Euler ancestral, UniPC) on local ONNX exports.
export { ClipTokenizer, type TokenizedPrompt } from './clip-tokenizer.js';
export { createScheduler, type CreateSchedulerOptions } from './create-scheduler.js';
export { DdimScheduler } from './ddim-scheduler.js';
export { DiffusionInputError, GenerationFailedError, ModelLoadError, ModelNotFoundError } from './errors.js';
export { EulerAncestralScheduler, EulerDiscreteScheduler } from './euler-discrete-scheduler.js';
export {
  DEFAULT_LIMITS,
  resolveRequest,
  type GenerationLimits,
  type GenerationMode,
  type GenerationRequest,
  type ResolvedRequest,
} from './generation-request.js';
export { PARAMETERS_KEYWORD, readEmbeddedParameters, type OutputFormat } from './image-codec.js';
export { gaussianNoise, philox4x32, POSTERIOR_NOISE_STREAM } from './philox-random.js';
export type { Scheduler } from './scheduler.js';
export {
  SCHEDULER_CLASS_NAMES,
  SCHEDULER_KINDS,
  resolveSchedulerConfig,
  schedulerKindOfClass,
  type SchedulerConfig,
  type SchedulerKind,
} from './scheduler-config.js';
export {
  StableDiffusionPipeline,
  type GenerateOptions,
  type GenerationEvent,
  type LoadModelOptions,
  type ModelInfo,
  type PipelineKind,
} from './stable-diffusion-pipeline.js';
export { UniPcScheduler } from './unipc-scheduler.js';
