/** The batch queue is full: the caller should back off and retry (RESOURCE_EXHAUSTED). */
export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';
  constructor(
    readonly queue: string,
    readonly capacity: number,
  ) {
    super(`the ${queue} queue is full (${capacity} items waiting); retry with backoff`);
  }
}

/** The item's deadline passed before its batch ran (DEADLINE_EXCEEDED). */
export class DeadlineExceededError extends Error {
  override readonly name = 'DeadlineExceededError';
  constructor(readonly queue: string, waitedMs: number) {
    super(`deadline passed after ${waitedMs} ms in the ${queue} queue, before inference started`);
  }
}

/** The pool or batcher was closed; queued and new work is refused (UNAVAILABLE). */
export class ClosedError extends Error {
  override readonly name = 'ClosedError';
  constructor(what: string) {
    super(`${what} is shut down`);
  }
}

/** A model file could not be opened as an ONNX Runtime session. */
export class ModelLoadError extends Error {
  override readonly name = 'ModelLoadError';
  constructor(
    readonly model: string,
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot load model ${model} from ${path}: ${message}`, options);
  }
}

/** ONNX Runtime rejected or failed a run (bad feed shapes, out of memory, ...). */
export class InferenceError extends Error {
  override readonly name = 'InferenceError';
  constructor(
    readonly model: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`inference on ${model} failed: ${message}`, options);
  }
}
