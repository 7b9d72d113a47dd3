import { ServiceError, isServiceError, status } from '@select/platform';
import { VectorIndexError } from '@select/vector-index';

/**
 * The gRPC status of a failure from @select/vector-index: each of its codes maps to one status, so a
 * caller can tell a bad request from a missing index from a damaged one. Anything else is rethrown
 * unchanged (and ends the call as UNKNOWN, logged by the platform).
 */
export function toServiceError(error: unknown): unknown {
  if (isServiceError(error) || !(error instanceof VectorIndexError)) return error;
  const options = { cause: error, ...(error.details ? { details: error.details } : {}) };
  switch (error.code) {
    case 'INVALID_ARGUMENT':
      return ServiceError.invalidArgument(error.message, options);
    case 'NOT_FOUND':
      return ServiceError.notFound(error.message, options);
    case 'ALREADY_EXISTS':
      return ServiceError.alreadyExists(error.message, options);
    case 'FAILED_PRECONDITION':
      return ServiceError.failedPrecondition(error.message, options);
    case 'RESOURCE_EXHAUSTED':
      return ServiceError.resourceExhausted(error.message, options);
    case 'CORRUPT':
      return new ServiceError(status.DATA_LOSS, error.message, options);
    case 'INTERNAL':
      return ServiceError.internal(error.message, options);
  }
}

/** Runs a handler body, turning vector-index failures into deliberate statuses. */
export async function mapErrors<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw toServiceError(error);
  }
}
