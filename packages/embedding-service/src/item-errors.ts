import { ClosedError, DeadlineExceededError, InferenceError, QueueFullError } from '@select/inference';
import { ServiceError, isServiceError, status, statusName } from '@select/platform';
import { ImageDecodeError, PreprocessPoolError, PreprocessQueueFullError } from '@select/vision';
import { ImagePathError, TextInputError, UnknownModelError, UnsupportedInputError } from './errors.js';

/**
 * The gRPC status a failure deserves and the message to show for it. Known failures keep their message (it
 * says what to fix); anything unexpected becomes INTERNAL with a generic message, and the caller logs it.
 */
export function classify(err: unknown): { code: status; message: string; expected: boolean } {
  if (isServiceError(err)) return { code: err.code, message: err.message, expected: true };
  if (err instanceof ImageDecodeError) return { code: status.INVALID_ARGUMENT, message: err.message, expected: true };
  if (err instanceof UnknownModelError) return { code: status.NOT_FOUND, message: err.message, expected: true };
  if (err instanceof UnsupportedInputError || err instanceof TextInputError) {
    return { code: status.INVALID_ARGUMENT, message: err.message, expected: true };
  }
  if (err instanceof QueueFullError || err instanceof PreprocessQueueFullError) {
    return { code: status.RESOURCE_EXHAUSTED, message: err.message, expected: true };
  }
  if (err instanceof DeadlineExceededError) return { code: status.DEADLINE_EXCEEDED, message: err.message, expected: true };
  if (err instanceof ClosedError) return { code: status.UNAVAILABLE, message: 'the server is shutting down', expected: true };
  if (err instanceof ImagePathError) {
    const code = {
      'no-root': status.FAILED_PRECONDITION,
      'outside-root': status.PERMISSION_DENIED,
      'not-found': status.NOT_FOUND,
      'too-large': status.INVALID_ARGUMENT,
    }[err.kind];
    return { code, message: err.message, expected: true };
  }
  if (err instanceof InferenceError || err instanceof PreprocessPoolError) {
    return { code: status.INTERNAL, message: 'inference failed on the server; the error is logged', expected: false };
  }
  return { code: status.INTERNAL, message: 'unexpected server error; it is logged', expected: false };
}

/** A failure as the ItemError of one item of a batch or stream. */
export function itemError(itemId: string, err: unknown): { itemId: string; code: string; message: string } {
  const { code, message } = classify(err);
  return { itemId, code: statusName(code), message };
}

/** A failure as the ServiceError that ends a whole call. */
export function toServiceError(err: unknown): ServiceError {
  if (isServiceError(err)) return err;
  const { code, message } = classify(err);
  return new ServiceError(code, message, { cause: err });
}
