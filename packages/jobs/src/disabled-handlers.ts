import type { commonV1 } from '@select/contracts';
import { ServiceError } from '@select/platform';
import type { JobApiHandlers } from './job-kind.js';

/**
 * The common job API of a service whose jobs are switched off (no state directory configured): it has no
 * jobs, so ListJobs is empty and GetJob / CancelJob / WatchJob answer NOT_FOUND, naming `reason`
 * (e.g. 'dataset jobs are off on this server (EMBEDDING_JOBS_DIR is not set)').
 */
export function disabledJobHandlers(reason: string): JobApiHandlers {
  const none = (request: commonV1.JobRef__Output): never => {
    throw ServiceError.notFound(`no job ${JSON.stringify(request.jobId)}: ${reason}`, { details: { jobId: request.jobId } });
  };
  return {
    GetJob: none,
    CancelJob: none,
    ListJobs: (): commonV1.ListJobsResponse => ({ jobs: [], nextPageToken: '' }),
    WatchJob: none,
  };
}

/** A start handler (StartX) of a service whose jobs are switched off: FAILED_PRECONDITION with `reason`. */
export function refuseJobStart(reason: string): (request: unknown) => never {
  return () => {
    throw ServiceError.failedPrecondition(reason);
  };
}
