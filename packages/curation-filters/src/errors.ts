/** Why a curation algorithm refused its input; services map `code` to a gRPC status. */
export type CurationFilterErrorCode = 'INVALID_ARGUMENT' | 'FAILED_PRECONDITION' | 'INTERNAL';

export class CurationFilterError extends Error {
  override readonly name = 'CurationFilterError';
  constructor(
    readonly code: CurationFilterErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function invalidArgument(message: string): CurationFilterError {
  return new CurationFilterError('INVALID_ARGUMENT', message);
}
