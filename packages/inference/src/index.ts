// Public entry of @select/inference: ONNX Runtime sessions in worker threads, dynamic batching across callers
// with bounded queues and deadlines, and custom worker loops over sessions it opens. The only package that imports
// onnxruntime-node (in its worker threads only: session-worker.ts and custom-worker-thread.ts).
export { ClosedError, DeadlineExceededError, InferenceError, ModelLoadError, QueueFullError } from './errors.js';
export { float32, int64, type ModelSignature, type TensorArray, type TensorData, type TensorType, type ValueInfo } from './tensor.js';
export { SessionPool, type SessionPoolOptions } from './session-pool.js';
export { DynamicBatcher, type DynamicBatcherOptions, type SubmitOptions } from './dynamic-batcher.js';
export { startModuleWorker } from './worker-entry.js';
export { startCustomWorker, type CustomWorker, type CustomWorkerOptions } from './custom-worker.js';
export type { CustomWorkerContext, CustomWorkerLoop, WorkerSession } from './custom-worker-loop.js';
export { ortSessionOptions, signatureOf, type SessionSettings, type ValueMetadataLike } from './session-options.js';
