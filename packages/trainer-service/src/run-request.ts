import { defaultJobId, JOB_ID_PATTERN } from '@select/jobs';
import { ServiceError } from '@select/platform';
import type { trainerV1 } from '@select/contracts';
import type { ShiftInfo } from './shift-info.js';

export const BACKENDS = ['timm', 'linear-probe', 'knn-bank'] as const;
export type Backend = (typeof BACKENDS)[number];

/** The fields every normalised run request has. */
export interface BaseRunRequest {
  /** '' when the id is derived from the request (same request = same run). */
  runId: string;
  backend: Backend;
  shiftDir: string;
  shiftId: string;
  recipeName: string;
  allowMissingClasses: boolean;
}

export function checkRunId(runId: string): void {
  if (runId && !JOB_ID_PATTERN.test(runId)) {
    throw ServiceError.invalidArgument(`run_id "${runId}" may hold only letters, digits, '.', '_' and '-' (at most 200, not starting with '.')`);
  }
}

export function baseRunFields(req: trainerV1.TrainingRequest__Output, shift: ShiftInfo, backend: Backend): BaseRunRequest {
  return {
    runId: req.runId,
    backend,
    shiftDir: shift.dir,
    shiftId: req.shiftId || shift.name,
    recipeName: req.recipeName,
    allowMissingClasses: req.allowMissingClasses,
  };
}

/** The run id: the one asked for, else `<kind>-<hash of the normalised request>`. */
export function runJobId(kind: string, request: BaseRunRequest): string {
  return request.runId || defaultJobId(kind, request);
}

/** The backend a request names ('' = timm); INVALID_ARGUMENT for an unknown one. */
export function backendOf(req: trainerV1.TrainingRequest__Output): Backend {
  const b = req.backend || 'timm';
  if (!(BACKENDS as readonly string[]).includes(b)) throw ServiceError.invalidArgument(`backend "${req.backend}" is not one of ${BACKENDS.join(', ')}`);
  return b as Backend;
}
