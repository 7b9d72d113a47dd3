// Public entry of @select/jobs: the durable job runtime every service runs its long work on.
export { JOB_FILE_VERSION, JOB_RUNTIME_DEFAULTS, JobRuntime, type JobFile } from './job-runtime.js';
export {
  TERMINAL_STATES,
  isTerminal,
  type JobApiHandlers,
  type JobContext,
  type JobKind,
  type JobListFilter,
  type JobPage,
  type JobRuntimeOptions,
  type JobState,
  type JobStatus,
} from './job-kind.js';
export { JOB_ID_PATTERN, canonicalJson, defaultJobId } from './canonical-json.js';
export { disabledJobHandlers, refuseJobStart } from './disabled-handlers.js';
