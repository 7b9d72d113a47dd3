// Public entry of @select/contracts: the protos of every service and event, their generated types,
// and the loaders that services and clients use.
export { PROTO_FILES, PROTO_LOADER_OPTIONS, PROTO_ROOT, type ProtoArea } from './proto-files.js';
export { loadProto, packageDefinition } from './load.js';
export { EventCodecError, decodeMessage, encodeMessage } from './event-codec.js';

export type { SampleCurated, SampleCurated__Output } from './generated/select/events/v1/SampleCurated.js';
export type { ShiftLifecycle, ShiftLifecycle__Output } from './generated/select/events/v1/ShiftLifecycle.js';
export type { JobLifecycle, JobLifecycle__Output } from './generated/select/events/v1/JobLifecycle.js';
export type { JobProgress, JobProgress__Output } from './generated/select/events/v1/JobProgress.js';
export type { TrainingMetric, TrainingMetric__Output } from './generated/select/events/v1/TrainingMetric.js';
export type { EvaluationResult, EvaluationResult__Output } from './generated/select/events/v1/EvaluationResult.js';
export type { ShiftPhase } from './generated/select/events/v1/ShiftPhase.js';
export type { Provenance, Provenance__Output } from './generated/select/common/v1/Provenance.js';
export type { ItemError, ItemError__Output } from './generated/select/common/v1/ItemError.js';
export type { JobStatus, JobStatus__Output } from './generated/select/common/v1/JobStatus.js';
export type { JobState } from './generated/select/common/v1/JobState.js';
export type { ClassLabel, ClassLabel__Output } from './generated/select/common/v1/ClassLabel.js';
