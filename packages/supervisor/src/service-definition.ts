// What the supervisor knows about one kind of service: where its program is, how it is configured from the
// services config, and how its health is asked. The table of the system's services is data
// (service-table.ts), so a service that is not built yet is reported as such and the others run.

/** What a definition's `environment` gets to build the service's variables from. */
export interface ServiceContext {
  /** The service's data folder (created before the start). */
  dataDir: string;
  /** A folder of links named after the configured models, or undefined when the service serves none. */
  modelsDir: string | undefined;
  /** `host:port` of another service of the table (its first replica), for the services that call it. */
  addressOf(service: string): string;
  /** The data folder of another service (workers share their coordinator's). */
  dataDirOf(service: string): string;
  /** Processes another service runs in this deployment (0 when it is disabled or not built). */
  replicasOf(service: string): number;
  /** 1-based replica number of this process (1 for unreplicated services). */
  replica: number;
  /** The process's gRPC port (0 for a service without a health service). */
  port: number;
}

export interface ServiceDefinition {
  /** Name in the config, in `status` and in the log file names: `embedding`. */
  name: string;
  /** One line for `status --help` and the README. */
  description: string;
  /** Folder under packages/ that holds the program and its package.json (version). */
  packageDir: string;
  /** Program relative to the package folder (or absolute), run with this Node. @default 'dist/main.js' */
  entry?: string;
  /** Arguments after the program. */
  args?: readonly string[];
  /**
   * Prefix of the service's gRPC server variables (`<PREFIX>_PORT`, `<PREFIX>_HOST`, as
   * @select/platform's grpcServerConfigSchema reads them).
   */
  envPrefix: string;
  defaultPort: number;
  /** Replicated services (curator workers) run `replicas` processes; the others exactly one. */
  replicated?: boolean;
  /** @default 1 */
  defaultReplicas?: number;
  /** How health is known: the process's grpc.health.v1 (`grpc`), or only that the process lives (`process`). */
  health: 'grpc' | 'process';
  /** Services started (and healthy) before this one, stopped after it. */
  dependsOn: readonly string[];
  /** The service's own variable for the Kafka topic prefix, when it has one besides KAFKA_TOPIC_PREFIX. */
  topicPrefixEnv?: string;
  /** Variable that receives the folder of model links (`EMBEDDING_MODELS_DIR`); unset: the service serves no models. */
  modelsEnv?: string;
  /** The service's own variables derived from the config (data folders, addresses of the services it calls). */
  environment?(context: ServiceContext): Record<string, string>;
}
