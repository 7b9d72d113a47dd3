// Failures of the evaluator, each with the gRPC status a caller acts on. Pure metric code throws these too,
// so a bad input surfaces with the same message through a job, an RPC or the CLI.
import { ServiceError, status } from '@select/platform';

/** Model outputs and evaluation classes do not fit together (FAILED_PRECONDITION: fix the model or the set). */
export class LabelSpaceError extends ServiceError {
  override readonly name: string = 'LabelSpaceError';
  constructor(message: string) {
    super(status.FAILED_PRECONDITION, message);
  }
}

/** A malformed input file or request value (INVALID_ARGUMENT). */
export class EvaluatorInputError extends ServiceError {
  override readonly name: string = 'EvaluatorInputError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(status.INVALID_ARGUMENT, message, options);
  }
}
