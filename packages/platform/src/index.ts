// Public entry of @select/platform: config, structured logging, errors, gRPC server and client
// bootstrap (health, reflection, deadlines, TLS, auth, graceful drain).
export {
  defineConfigSchema,
  type BoolOption,
  type ConfigOf,
  type ConfigOption,
  type ConfigSchema,
  type EnumOption,
  type IntOption,
  type ListOption,
  type NumberOption,
  type StringOption,
  type UrlOption,
} from './config-schema.js';
export { redactConfig, renderConfigTable, resolveConfig, type ConfigOverrides } from './config.js';

export {
  ConfigError,
  GrpcCallError,
  ServiceError,
  isServiceError,
  statusName,
  type ConfigIssue,
  type ServiceErrorOptions,
} from './errors.js';
export { DEFAULT_MAX_MESSAGE_BYTES, ERROR_DETAILS_TRAILER, REQUEST_ID_HEADER } from './conventions.js';

export {
  LOG_LEVELS,
  createLogger,
  loggingConfigSchema,
  requestLogger,
  type LogLevel,
  type Logger,
  type LoggerOptions,
} from './logger.js';

export { PROTO_LOADER_OPTIONS, findService, loadProtoPackage } from './proto.js';

export type {
  BidiStreamHandler,
  CallContext,
  ClientStreamHandler,
  ServerStreamHandler,
  ServiceImplementation,
  UnaryHandler,
} from './call-context.js';
export {
  GrpcServer,
  createGrpcServer,
  startGrpcServer,
  type AddServiceOptions,
  type GrpcServerOptions,
  type ListeningAddress,
  type ServiceRegistration,
  type ShutdownOptions,
} from './server.js';
export { shutdownOnSignals, type ShutdownOnSignalsOptions } from './shutdown-signals.js';
export { AUTH_EXEMPT_PREFIXES, bearerAuthInterceptor, bearerTokenInterceptor } from './bearer-auth.js';
export {
  channelCredentials,
  readPem,
  serverCredentials,
  type ClientTlsOptions,
  type PemSource,
  type ServerTlsOptions,
} from './tls.js';

export {
  createGrpcClient,
  unary,
  type ClientConstructor,
  type GenericServiceClient,
  type GrpcClientOptions,
  type RetryOptions,
  type UnaryCallOptions,
} from './client.js';
export { checkHealth, type HealthCheckOptions, type HealthStatus } from './health-check.js';
export {
  clientOptionsFromConfig,
  grpcClientConfigSchema,
  grpcServerConfigSchema,
  serverOptionsFromConfig,
  type GrpcClientConfig,
  type GrpcServerConfig,
} from './grpc-config.js';

// Re-exported so services can name statuses and metadata without their own @grpc/grpc-js import.
export { Metadata, status } from '@grpc/grpc-js';
export { syncDirectory, syncFile, writeFileAtomic } from './durable-file.js';
