// Environment options for a gRPC server or client, to spread into a service's own config schema so
// every service is configured, and documented, the same way.
import type { GrpcClientOptions } from './client.js';
import { defineConfigSchema, type ConfigOf } from './config-schema.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from './conventions.js';
import { ConfigError } from './errors.js';
import type { GrpcServerOptions } from './server.js';

/**
 * Server options read from `<PREFIX>_HOST`, `<PREFIX>_PORT`, ... e.g. with prefix `EMBEDDING`:
 * EMBEDDING_HOST, EMBEDDING_PORT, EMBEDDING_TLS_CERT, EMBEDDING_AUTH_TOKENS.
 */
export function grpcServerConfigSchema(envPrefix: string, defaults: { port?: number } = {}) {
  return defineConfigSchema({
    host: {
      env: `${envPrefix}_HOST`,
      type: 'string',
      default: '127.0.0.1',
      doc: 'Interface the gRPC server binds; 0.0.0.0 or :: to serve beyond this machine.',
    },
    port: {
      env: `${envPrefix}_PORT`,
      type: 'int',
      min: 0,
      max: 65535,
      default: defaults.port ?? 0,
      doc: 'Port the gRPC server binds; 0 picks a free port (logged at start).',
    },
    defaultDeadlineMs: {
      env: `${envPrefix}_DEFAULT_DEADLINE_MS`,
      type: 'int',
      min: 0,
      default: 300_000,
      doc: 'Deadline given to calls that arrive without one, in ms (server-streaming calls, such as WatchJob, get none); 0 disables.',
    },
    maxMessageBytes: {
      env: `${envPrefix}_MAX_MESSAGE_BYTES`,
      type: 'int',
      min: 1024,
      default: DEFAULT_MAX_MESSAGE_BYTES,
      doc: 'Largest request or response message, in bytes.',
    },
    shutdownGraceMs: {
      env: `${envPrefix}_SHUTDOWN_GRACE_MS`,
      type: 'int',
      min: 0,
      default: 10_000,
      doc: 'On shutdown, how long in-flight calls may finish before they are aborted, in ms.',
    },
    tlsCert: {
      env: `${envPrefix}_TLS_CERT`,
      type: 'string',
      optional: true,
      doc: 'PEM file of the server certificate chain; with the key, turns TLS on.',
    },
    tlsKey: {
      env: `${envPrefix}_TLS_KEY`,
      type: 'string',
      optional: true,
      doc: 'PEM file of the server private key.',
    },
    tlsClientCa: {
      env: `${envPrefix}_TLS_CLIENT_CA`,
      type: 'string',
      optional: true,
      doc: 'PEM file of the CA that signs client certificates; turns on mutual TLS.',
    },
    authTokens: {
      env: `${envPrefix}_AUTH_TOKENS`,
      type: 'list',
      optional: true,
      secret: true,
      doc: 'Comma-separated bearer tokens; when set, every call but health checks must present one.',
    },
  });
}

export type GrpcServerConfig = ConfigOf<ReturnType<typeof grpcServerConfigSchema>>;

/** GrpcServerOptions from a resolved server config; throws ConfigError for half a TLS setup. */
export function serverOptionsFromConfig(config: GrpcServerConfig): GrpcServerOptions {
  const { tlsCert, tlsKey, tlsClientCa } = config;
  if ((tlsCert === undefined) !== (tlsKey === undefined) || (tlsClientCa !== undefined && tlsCert === undefined)) {
    throw new ConfigError([
      {
        option: 'tlsCert',
        env: '*_TLS_CERT / *_TLS_KEY',
        source: 'env',
        value: { tlsCert, tlsKey, tlsClientCa },
        reason: 'must be set together (and are needed for a client CA)',
      },
    ]);
  }
  return {
    host: config.host,
    port: config.port,
    defaultDeadlineMs: config.defaultDeadlineMs,
    maxReceiveMessageBytes: config.maxMessageBytes,
    maxSendMessageBytes: config.maxMessageBytes,
    shutdownGraceMs: config.shutdownGraceMs,
    ...(tlsCert !== undefined && tlsKey !== undefined
      ? { tls: { cert: tlsCert, key: tlsKey, ...(tlsClientCa !== undefined ? { clientCa: tlsClientCa } : {}) } }
      : {}),
    ...(config.authTokens !== undefined && config.authTokens.length > 0 ? { authTokens: config.authTokens } : {}),
  };
}

/**
 * Client options read from `<PREFIX>_ADDRESS`, `<PREFIX>_DEADLINE_MS`, ... e.g. with prefix
 * `EMBEDDING_SERVICE`: EMBEDDING_SERVICE_ADDRESS, EMBEDDING_SERVICE_TLS_CA, EMBEDDING_SERVICE_AUTH_TOKEN.
 */
export function grpcClientConfigSchema(envPrefix: string, defaults: { address?: string } = {}) {
  return defineConfigSchema({
    address: {
      env: `${envPrefix}_ADDRESS`,
      type: 'string',
      ...(defaults.address !== undefined ? { default: defaults.address } : {}),
      doc: 'host:port of the service.',
    },
    deadlineMs: {
      env: `${envPrefix}_DEADLINE_MS`,
      type: 'int',
      min: 0,
      default: 30_000,
      doc: 'Deadline of calls made without one, in ms; 0 disables.',
    },
    tls: {
      env: `${envPrefix}_TLS`,
      type: 'bool',
      default: false,
      doc: 'Connect with TLS, trusting the system roots unless a CA is given (implied by the TLS files).',
    },
    tlsCa: {
      env: `${envPrefix}_TLS_CA`,
      type: 'string',
      optional: true,
      doc: 'PEM file of the CA that signed the server certificate.',
    },
    tlsCert: {
      env: `${envPrefix}_TLS_CERT`,
      type: 'string',
      optional: true,
      doc: 'PEM file of the client certificate, for mutual TLS.',
    },
    tlsKey: {
      env: `${envPrefix}_TLS_KEY`,
      type: 'string',
      optional: true,
      doc: 'PEM file of the client private key, for mutual TLS.',
    },
    authToken: {
      env: `${envPrefix}_AUTH_TOKEN`,
      type: 'string',
      optional: true,
      secret: true,
      doc: 'Bearer token sent on every call.',
    },
  });
}

export type GrpcClientConfig = ConfigOf<ReturnType<typeof grpcClientConfigSchema>>;

/** The address and GrpcClientOptions from a resolved client config. */
export function clientOptionsFromConfig(config: GrpcClientConfig): { address: string; options: GrpcClientOptions } {
  const { tlsCa, tlsCert, tlsKey } = config;
  const useTls = config.tls || tlsCa !== undefined || tlsCert !== undefined || tlsKey !== undefined;
  return {
    address: config.address,
    options: {
      defaultDeadlineMs: config.deadlineMs,
      ...(useTls
        ? {
            tls: {
              ...(tlsCa !== undefined ? { ca: tlsCa } : {}),
              ...(tlsCert !== undefined ? { cert: tlsCert } : {}),
              ...(tlsKey !== undefined ? { key: tlsKey } : {}),
            },
          }
        : {}),
      ...(config.authToken !== undefined ? { authToken: config.authToken } : {}),
    },
  };
}
