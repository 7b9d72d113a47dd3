import { ServiceError, status } from '@select/platform';

/**
 * A request or model input that cannot be served as given (size not a multiple of 8, unknown
 * scheduler, corrupt init image…). A ServiceError with INVALID_ARGUMENT, so a gRPC handler can let it
 * through and the caller reads the message as written.
 */
export class DiffusionInputError extends ServiceError {
  override readonly name = 'DiffusionInputError';
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(status.INVALID_ARGUMENT, message, options);
  }
}

/** A model directory that is missing, incomplete or not an export this package can run. */
export class ModelLoadError extends ServiceError {
  override readonly name = 'ModelLoadError';
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(status.FAILED_PRECONDITION, message, options);
  }
}

/** The named model is not among the configured ones. */
export class ModelNotFoundError extends ServiceError {
  override readonly name = 'ModelNotFoundError';
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(status.NOT_FOUND, message, options);
  }
}

/** The ONNX pipeline failed while generating (a runtime error, or its worker thread died). */
export class GenerationFailedError extends ServiceError {
  override readonly name = 'GenerationFailedError';
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(status.INTERNAL, message, options);
  }
}
