// Public entry of @select/supervisor: runs every service of the system as its own detached process (pid file,
// log file, grpc.health.v1), configured by one file (select.services.json). Used by `select services`.
export { SupervisorConfigError, SupervisorError } from './errors.js';
export type { ServiceContext, ServiceDefinition } from './service-definition.js';
export { SERVICE_DEFINITIONS } from './service-table.js';
export {
  DEFAULTS,
  DEFAULT_CONFIG_FILE,
  loadServicesConfig,
  repositoryRoot,
  resolveServicesConfig,
  type LoadServicesConfigOptions,
  type ResolvedServiceConfig,
  type ResolvedServicesConfig,
  type ServiceConfigFile,
  type ServicesConfigFile,
} from './services-config.js';
export {
  Supervisor,
  tailFile,
  type DownOutcome,
  type DownResult,
  type InstanceState,
  type InstanceStatus,
  type ServiceInstance,
  type SupervisorOptions,
  type UpOutcome,
  type UpResult,
} from './supervisor.js';
export { isAlive, type ProcessRecord } from './process-record.js';
