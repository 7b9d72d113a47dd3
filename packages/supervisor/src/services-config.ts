// The one config file of a local deployment (select.services.json): which services run, on which ports, with
// which model directories and data folders. Every option has a default, so no file at all is a valid setup;
// relative paths are resolved against the folder of the file (the repository root for the default file).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SupervisorConfigError } from './errors.js';
import type { ServiceDefinition } from './service-definition.js';

/** The file's shape; every field is optional. */
export interface ServicesConfigFile {
  /** Root of the services' data folders (jobs, indexes, model links). @default '.work/services' */
  dataDir?: string;
  /** One log file per process. @default '<dataDir>/logs' */
  logsDir?: string;
  /** One pid file per process. @default '<dataDir>/run' */
  runDir?: string;
  /** Interface every service binds and is checked on. @default '127.0.0.1' */
  host?: string;
  /** How long `up` waits for a started process to report SERVING. @default 120000 */
  startTimeoutMs?: number;
  /** How long `down` waits after SIGTERM before it sends SIGKILL. @default 30000 */
  stopTimeoutMs?: number;
  /**
   * Prefix of every Kafka topic name, given to each service as KAFKA_TOPIC_PREFIX and its own prefix variable
   * (side-by-side deployments on one cluster, tests). @default unset: each service's own default (none)
   */
  kafkaTopicPrefix?: string;
  /** Environment variables given to every service (e.g. LOG_LEVEL); the supervisor's own environment is inherited too. */
  env?: Record<string, string>;
  services?: Record<string, ServiceConfigFile>;
}

export interface ServiceConfigFile {
  /** @default true */
  enabled?: boolean;
  /** gRPC port (of the first replica; replica i gets port + i - 1). @default the service's own default port */
  port?: number;
  /** Processes of a replicated service (curator workers). @default 1 */
  replicas?: number;
  /** Model directories served by name: `{ "tiny-clip": "tools/fixtures/embedding/models/tiny-clip" }`. */
  models?: Record<string, string>;
  /** The service's data folder. @default '<dataDir>/<service>' */
  dataDir?: string;
  /** Extra environment variables of this service only (its own options, e.g. EMBEDDING_INFERENCE_WORKERS). */
  env?: Record<string, string>;
  /** @default the file's startTimeoutMs */
  startTimeoutMs?: number;
  /** @default the file's stopTimeoutMs */
  stopTimeoutMs?: number;
}

/** A service's settings with every default filled in and every path absolute. */
export interface ResolvedServiceConfig {
  enabled: boolean;
  port: number;
  replicas: number;
  /** name → absolute directory, in file order. */
  models: Array<{ name: string; dir: string }>;
  dataDir: string;
  env: Record<string, string>;
  startTimeoutMs: number;
  stopTimeoutMs: number;
}

export interface ResolvedServicesConfig {
  /** The file read, or undefined when the defaults were used. */
  file: string | undefined;
  /** The repository whose packages/<service>/dist holds the programs. */
  root: string;
  dataDir: string;
  logsDir: string;
  runDir: string;
  host: string;
  kafkaTopicPrefix: string | undefined;
  env: Record<string, string>;
  services: Record<string, ResolvedServiceConfig>;
}

export const DEFAULT_CONFIG_FILE = 'select.services.json';
export const DEFAULTS = {
  dataDir: '.work/services',
  host: '127.0.0.1',
  startTimeoutMs: 120_000,
  stopTimeoutMs: 30_000,
} as const;

/** The repository this package lives in (packages/supervisor/{src,dist}/ → ../../..). */
export function repositoryRoot(): string {
  return fileURLToPath(new URL('../../..', import.meta.url)).replace(/\/$/, '');
}

export interface LoadServicesConfigOptions {
  /** A config file; relative to the working directory. @default `<root>/select.services.json` when it exists, else the defaults */
  file?: string;
  /** @default repositoryRoot() */
  root?: string;
}

/** Reads, validates and resolves the config; throws SupervisorConfigError naming every problem. */
export function loadServicesConfig(definitions: readonly ServiceDefinition[], options: LoadServicesConfigOptions = {}): ResolvedServicesConfig {
  const root = options.root ?? repositoryRoot();
  let file: string | undefined;
  let raw: unknown = {};
  if (options.file !== undefined) {
    file = resolve(options.file);
    if (!existsSync(file)) throw new SupervisorConfigError(`config file ${file} does not exist`);
  } else if (existsSync(resolve(root, DEFAULT_CONFIG_FILE))) {
    file = resolve(root, DEFAULT_CONFIG_FILE);
  }
  if (file !== undefined) {
    if (!/\.json$/i.test(file)) throw new SupervisorConfigError(`config file ${file}: only JSON is read (name it *.json)`);
    try {
      raw = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    } catch (err) {
      throw new SupervisorConfigError(`config file ${file} is not valid JSON: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
  return resolveServicesConfig(raw, definitions, { root, base: file !== undefined ? dirname(file) : root, file });
}

/** Validates a parsed config object (the file's content) and fills in the defaults. */
export function resolveServicesConfig(
  raw: unknown,
  definitions: readonly ServiceDefinition[],
  where: { root: string; base: string; file?: string | undefined },
): ResolvedServicesConfig {
  const problems: string[] = [];
  const top = asObject(raw, 'the file', problems) ?? {};
  checkKeys(top, ['$comment', 'dataDir', 'logsDir', 'runDir', 'host', 'kafkaTopicPrefix', 'startTimeoutMs', 'stopTimeoutMs', 'env', 'services'], '', problems);
  const path = (value: unknown, name: string, fallback: string): string => {
    if (value === undefined) return resolve(where.base, fallback);
    if (typeof value !== 'string' || value === '') {
      problems.push(`${name} must be a non-empty path`);
      return resolve(where.base, fallback);
    }
    return isAbsolute(value) ? value : resolve(where.base, value);
  };
  const dataDir = path(top.dataDir, 'dataDir', DEFAULTS.dataDir);
  const logsDir = top.logsDir === undefined ? resolve(dataDir, 'logs') : path(top.logsDir, 'logsDir', '');
  const runDir = top.runDir === undefined ? resolve(dataDir, 'run') : path(top.runDir, 'runDir', '');
  const host = top.host === undefined ? DEFAULTS.host : typeof top.host === 'string' && top.host !== '' ? top.host : (problems.push('host must be a host name or address'), DEFAULTS.host);
  const startTimeoutMs = positiveInt(top.startTimeoutMs, 'startTimeoutMs', DEFAULTS.startTimeoutMs, problems);
  const stopTimeoutMs = positiveInt(top.stopTimeoutMs, 'stopTimeoutMs', DEFAULTS.stopTimeoutMs, problems);
  const env = stringMap(top.env, 'env', problems);
  const kafkaTopicPrefix =
    top.kafkaTopicPrefix === undefined
      ? undefined
      : typeof top.kafkaTopicPrefix === 'string' && /^[A-Za-z0-9._-]*$/.test(top.kafkaTopicPrefix)
        ? top.kafkaTopicPrefix
        : (problems.push('kafkaTopicPrefix must be letters, digits, . _ - (a Kafka topic name prefix)'), undefined);

  const servicesRaw = top.services === undefined ? {} : (asObject(top.services, 'services', problems) ?? {});
  const known = new Set(definitions.map((d) => d.name));
  for (const name of Object.keys(servicesRaw)) {
    if (!known.has(name)) problems.push(`services.${name}: no such service; known: ${[...known].join(', ')}`);
  }
  const services: Record<string, ResolvedServiceConfig> = {};
  for (const definition of definitions) {
    const name = definition.name;
    const entry = servicesRaw[name] === undefined ? {} : (asObject(servicesRaw[name], `services.${name}`, problems) ?? {});
    checkKeys(entry, ['$comment', 'enabled', 'port', 'replicas', 'models', 'dataDir', 'env', 'startTimeoutMs', 'stopTimeoutMs'], `services.${name}.`, problems);
    const enabled = entry.enabled === undefined ? true : entry.enabled === true ? true : entry.enabled === false ? false : (problems.push(`services.${name}.enabled must be true or false`), true);
    const port = portNumber(entry.port, `services.${name}.port`, definition.defaultPort, problems);
    const replicas = positiveInt(entry.replicas, `services.${name}.replicas`, definition.defaultReplicas ?? 1, problems);
    if (replicas > 1 && !definition.replicated) problems.push(`services.${name}.replicas: ${name} runs as one process`);
    if (replicas > 64) problems.push(`services.${name}.replicas: at most 64`);
    const models = Object.entries(stringMap(entry.models, `services.${name}.models`, problems)).map(([model, dir]) => {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(model)) problems.push(`services.${name}.models: "${model}" is not a usable model name (letters, digits, . _ -)`);
      return { name: model, dir: isAbsolute(dir) ? dir : resolve(where.base, dir) };
    });
    if (models.length > 0 && definition.modelsEnv === undefined) problems.push(`services.${name}.models: ${name} serves no models`);
    services[name] = {
      enabled,
      port,
      replicas,
      models,
      dataDir: entry.dataDir === undefined ? resolve(dataDir, name) : path(entry.dataDir, `services.${name}.dataDir`, name),
      env: stringMap(entry.env, `services.${name}.env`, problems),
      startTimeoutMs: positiveInt(entry.startTimeoutMs, `services.${name}.startTimeoutMs`, startTimeoutMs, problems),
      stopTimeoutMs: positiveInt(entry.stopTimeoutMs, `services.${name}.stopTimeoutMs`, stopTimeoutMs, problems),
    };
  }
  // Two enabled processes on one port: the second could never start.
  const owners = new Map<number, string>();
  for (const definition of definitions) {
    const service = services[definition.name]!;
    if (!service.enabled || definition.health !== 'grpc') continue;
    for (let i = 0; i < service.replicas; i++) {
      const port = service.port + i;
      const other = owners.get(port);
      if (other !== undefined) problems.push(`port ${port} is given to both ${other} and ${definition.name}`);
      owners.set(port, definition.name);
    }
  }
  if (problems.length > 0) {
    throw new SupervisorConfigError(`${where.file ?? 'services config'}: ${problems.join('; ')}`);
  }
  return { file: where.file, root: where.root, dataDir, logsDir, runDir, host, kafkaTopicPrefix, env, services };
}

function asObject(value: unknown, name: string, problems: string[]): Record<string, unknown> | undefined {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  problems.push(`${name} must be a JSON object`);
  return undefined;
}

function checkKeys(object: Record<string, unknown>, allowed: readonly string[], prefix: string, problems: string[]): void {
  for (const key of Object.keys(object)) {
    if (!allowed.includes(key)) problems.push(`${prefix}${key}: unknown option (allowed: ${allowed.filter((k) => k !== '$comment').join(', ')})`);
  }
}

function positiveInt(value: unknown, name: string, fallback: number, problems: string[]): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number' && Number.isInteger(value) && value > 0) return value;
  problems.push(`${name} must be a whole number > 0`);
  return fallback;
}

function portNumber(value: unknown, name: string, fallback: number, problems: string[]): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535) return value;
  problems.push(`${name} must be a port number 1..65535 (a fixed port: the other services and \`status\` find it there)`);
  return fallback;
}

function stringMap(value: unknown, name: string, problems: string[]): Record<string, string> {
  if (value === undefined) return {};
  const object = asObject(value, name, problems);
  if (!object) return {};
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(object)) {
    if (typeof v === 'string') out[key] = v;
    else if (typeof v === 'number' || typeof v === 'boolean') out[key] = String(v);
    else problems.push(`${name}.${key} must be a string`);
  }
  return out;
}
