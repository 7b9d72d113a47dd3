import { ServiceError } from '@select/platform';

/**
 * The common job API of a service whose jobs are switched off (no state directory configured): every call
 * fails with FAILED_PRECONDITION and `reason`, e.g. 'dataset jobs are off on this server (set EMBEDDING_JOBS_DIR)'.
 */
export function disabledJobHandlers(reason: string) {
  const refuse = (): never => {
    throw ServiceError.failedPrecondition(reason);
  };
  return {
    GetJob: refuse,
    CancelJob: refuse,
    ListJobs: refuse,
    WatchJob: refuse,
  };
}
