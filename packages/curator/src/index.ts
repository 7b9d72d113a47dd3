// Public entry of @select/curator: the curation chain (steps, registry), strategies 1-3, the build
// runner and workers, and the select.curation.v1 service.
export { StepRegistry } from './chain/registry.js';
export type {
  AnyStep,
  BuildContext,
  BuildOutputs,
  Candidate,
  ChainStep,
  Decision,
  GlobalStep,
  LabelMappingRow,
  LabelSpace,
  ParamSpec,
  PoolInfo,
  ServiceClients,
  StepContext,
  StepDefinition,
  StepEnvironment,
  StepResult,
  TaskStats,
} from './chain/step.js';
export { STEP_DEFINITIONS, createStepRegistry } from './steps.js';
export { TEXT_MODEL_THRESHOLDS, synsetText } from './strategies/text-similarity.js';
export { mapLabels, readOpenImagesHierarchy, type LabelMappingEntry, type MappingPolicy, type MappingRule } from './strategies/label-mapping.js';
export { WordNetNouns } from './strategies/wordnet-nouns.js';
export { normalizeRequest, type BuildSpec } from './build/build-spec.js';
export { runBuild, type BuildReport } from './build/build-runner.js';
export { curatorConfigSchema, type CuratorConfig } from './config.js';
export { CurationService, CURATE_JOB_KIND } from './curation-service.js';
export { startCuratorServer, SERVICE_NAME, type CuratorServer } from './server.js';
export { CuratorWorker, type CuratorWorkerOptions } from './worker.js';
export { runCuratorWorker } from './worker-process.js';
