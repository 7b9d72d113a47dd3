import { Server, type ChannelOptions, type ServerInterceptor, type ServerWritableStream, type ServiceDefinition } from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath, type ServingStatus } from 'grpc-health-check';
import type { Logger } from 'pino';
import { bearerAuthInterceptor } from './bearer-auth.js';
import type { ServiceImplementation } from './call-context.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from './conventions.js';
import { wrapHandler, type CallRun, type CallRuntime } from './call-handlers.js';
import { ServiceError } from './errors.js';
import { createLogger } from './logger.js';
import { findService, loadProtoPackage } from './proto.js';
import { serverCredentials, type ServerTlsOptions } from './tls.js';

const HEALTH_SERVICE = 'grpc.health.v1.Health';
/** After the grace period, how long aborted handlers get to end their calls before connections drop. */
const ABORT_WAIT_MS = 1_000;

export interface GrpcServerOptions {
  /** Service name written on log lines when no `logger` is given. @default 'grpc-server' */
  name?: string;
  /** @default createLogger({ service: name }) */
  logger?: Logger;
  /** Interface to bind. @default '127.0.0.1' (loopback; set '0.0.0.0' or '::' to serve a network) */
  host?: string;
  /** Port to bind; 0 picks a free one (read it from `start()`'s result). @default 0 */
  port?: number;
  /**
   * Deadline given to calls that arrive without one, except server-streaming calls (WatchJob, a generation's
   * progress), which get none. 0 disables. @default 300000 (5 minutes)
   */
  defaultDeadlineMs?: number;
  /** Largest request message accepted. @default 67108864 (64 MiB) */
  maxReceiveMessageBytes?: number;
  /** Largest response message sent. @default 67108864 (64 MiB) */
  maxSendMessageBytes?: number;
  /** How long `shutdown()` waits for in-flight calls before aborting them. @default 10000 */
  shutdownGraceMs?: number;
  /** Serve TLS (mutual TLS when `clientCa` is set). @default undefined (plaintext, for loopback) */
  tls?: ServerTlsOptions;
  /** Require `authorization: Bearer <token>` (any of these tokens) on every call but health checks. @default undefined (off) */
  authTokens?: readonly string[];
  /** Serve gRPC server reflection (v1 and v1alpha) for the registered services. @default true */
  reflection?: boolean;
  /** Extra grpc-js server options, applied last. */
  channelOptions?: ChannelOptions;
}

type ResolvedServerOptions = Required<Omit<GrpcServerOptions, 'tls' | 'authTokens' | 'channelOptions'>> &
  Pick<GrpcServerOptions, 'tls' | 'authTokens' | 'channelOptions'>;

function addServerDefaults(options: GrpcServerOptions): ResolvedServerOptions {
  const name = options.name ?? 'grpc-server';
  return {
    ...options,
    name,
    logger: options.logger ?? createLogger({ service: name }),
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    defaultDeadlineMs: options.defaultDeadlineMs ?? 300_000,
    maxReceiveMessageBytes: options.maxReceiveMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    maxSendMessageBytes: options.maxSendMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    shutdownGraceMs: options.shutdownGraceMs ?? 10_000,
    reflection: options.reflection ?? true,
  };
}

export interface AddServiceOptions {
  /** Deadline for this service's calls that arrive without one (server-streaming calls excepted); 0 disables. @default the server's defaultDeadlineMs */
  defaultDeadlineMs?: number;
}

export interface ShutdownOptions {
  /** How long in-flight calls may run on before their signals are aborted. @default the server's shutdownGraceMs */
  graceMs?: number;
  /**
   * How long to keep accepting calls while health already reports NOT_SERVING, so load balancers
   * and probes can steer traffic away first. @default 0
   */
  drainDelayMs?: number;
}

export interface ListeningAddress {
  host: string;
  port: number;
  /** `host:port`, ready for a client. */
  address: string;
}

export interface ServiceRegistration {
  packageDefinition: PackageDefinition;
  /** Fully-qualified name, e.g. `select.embedding.v1.EmbeddingService`. */
  serviceName: string;
  implementation: ServiceImplementation;
  options?: AddServiceOptions;
}

function formatHostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves true if `work` settled within `ms`, false otherwise (it keeps running). */
async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([work.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A grpc-js server with the platform's conventions: health (overall "" and per service), reflection,
 * per-call deadlines and cancellation signals, error → status mapping, request logging, optional
 * TLS / mutual TLS and bearer-token auth, and a graceful `shutdown()`.
 */
export class GrpcServer {
  readonly logger: Logger;
  private readonly options: ResolvedServerOptions;
  private readonly server: Server;
  private readonly health = new HealthImplementation({ '': 'NOT_SERVING' });
  private readonly runtime: CallRuntime;
  private readonly serviceNames: string[] = [];
  private readonly packageDefinitions: PackageDefinition[] = [];
  private readonly watches = new Set<ServerWritableStream<unknown, unknown>>();
  private state: 'new' | 'starting' | 'serving' | 'stopping' | 'stopped' = 'new';
  private listening: ListeningAddress | undefined;
  private starting: Promise<ListeningAddress> | undefined;
  private stopping: Promise<void> | undefined;

  constructor(options: GrpcServerOptions = {}) {
    this.options = addServerDefaults(options);
    this.logger = this.options.logger;
    this.runtime = { logger: this.logger, active: new Set<CallRun>() };
    const interceptors: ServerInterceptor[] = [];
    if (this.options.authTokens !== undefined) {
      interceptors.push(bearerAuthInterceptor(this.options.authTokens, this.logger));
    }
    this.server = new Server({
      'grpc.max_receive_message_length': this.options.maxReceiveMessageBytes,
      'grpc.max_send_message_length': this.options.maxSendMessageBytes,
      ...this.options.channelOptions,
      interceptors,
    });
  }

  /**
   * Registers `serviceName` from `packageDefinition` with async handlers (see ServiceImplementation).
   * Every method of the service needs a handler; call before `start()`.
   */
  addService(
    packageDefinition: PackageDefinition,
    serviceName: string,
    implementation: ServiceImplementation,
    options: AddServiceOptions = {},
  ): this {
    if (this.state !== 'new') throw new Error(`addService(${serviceName}) must be called before start()`);
    if (this.serviceNames.includes(serviceName)) throw new Error(`Service ${serviceName} is already registered`);
    const definition = findService(packageDefinition, serviceName);
    const defaultDeadlineMs = options.defaultDeadlineMs ?? this.options.defaultDeadlineMs;
    const handlers: Record<string, ReturnType<typeof wrapHandler>> = {};
    const missing: string[] = [];
    for (const [name, method] of Object.entries(definition)) {
      const handler = implementation[name] ?? (method.originalName ? implementation[method.originalName] : undefined);
      if (typeof handler !== 'function') {
        missing.push(name);
        continue;
      }
      const info = {
        path: method.path,
        requestStream: method.requestStream,
        responseStream: method.responseStream,
        defaultDeadlineMs,
      };
      handlers[name] = wrapHandler(info, handler.bind(implementation), this.runtime);
    }
    if (missing.length > 0) throw new Error(`Service ${serviceName} has no handler for: ${missing.join(', ')}`);
    this.server.addService(definition as ServiceDefinition, handlers);
    this.serviceNames.push(serviceName);
    this.packageDefinitions.push(packageDefinition);
    return this;
  }

  /** Binds host:port and marks every service SERVING. Resolves to the address actually bound. */
  start(): Promise<ListeningAddress> {
    if (this.state !== 'new') return this.starting ?? Promise.reject(new Error('Server is shutting down'));
    this.state = 'starting';
    this.starting = this.bindAndServe();
    return this.starting;
  }

  private async bindAndServe(): Promise<ListeningAddress> {
    this.addHealthService();
    if (this.options.reflection) {
      // Health rides along so `grpcurl describe grpc.health.v1.Health` works against any service. Every
      // definition carries the real descriptors of its files (@select/contracts), so reflection serves
      // each file under its import name with its dependencies.
      const healthDefinition = loadProtoPackage(healthProtoPath);
      const merged: PackageDefinition = Object.assign({}, healthDefinition, ...this.packageDefinitions);
      new ReflectionService(merged, { services: [...this.serviceNames, HEALTH_SERVICE] }).addToServer(this.server);
    }
    const { host } = this.options;
    const target = formatHostPort(host, this.options.port);
    const port = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(target, serverCredentials(this.options.tls), (error, bound) => {
        if (error) reject(new Error(`Could not bind the gRPC server to ${target}: ${error.message}`, { cause: error }));
        else resolve(bound);
      });
    });
    this.listening = { host, port, address: formatHostPort(host, port) };
    if (this.state === 'starting') {
      this.state = 'serving';
      for (const name of ['', ...this.serviceNames]) this.health.setStatus(name, 'SERVING');
    }
    this.logger.info(
      {
        address: this.listening.address,
        services: this.serviceNames,
        tls: this.options.tls ? (this.options.tls.clientCa ? 'mutual' : 'server') : 'off',
        auth: this.options.authTokens ? 'bearer' : 'off',
        reflection: this.options.reflection,
      },
      'grpc server listening',
    );
    return this.listening;
  }

  // Health's Watch streams are tracked so shutdown can end them after announcing NOT_SERVING, instead
  // of letting them hold the drain open until the grace period runs out.
  private addHealthService(): void {
    this.health.addToServer({
      addService: (definition, implementation) => {
        const watch = implementation['watch'] as ((call: ServerWritableStream<unknown, unknown>) => void) | undefined;
        const tracked = watch
          ? {
              ...implementation,
              watch: (call: ServerWritableStream<unknown, unknown>) => {
                this.watches.add(call);
                call.on('cancelled', () => this.watches.delete(call));
                watch(call);
              },
            }
          : implementation;
        this.server.addService(definition as unknown as ServiceDefinition, tracked);
      },
    });
  }

  /** The bound port (after `start()` resolved). */
  get port(): number {
    return this.requireListening().port;
  }

  /** `host:port` of the bound server (after `start()` resolved). */
  get address(): string {
    return this.requireListening().address;
  }

  /** Calls whose handlers are still running. */
  get activeCalls(): number {
    return this.runtime.active.size;
  }

  private requireListening(): ListeningAddress {
    if (!this.listening) throw new Error('The gRPC server has not been started');
    return this.listening;
  }

  /**
   * Sets the health status a service reports (e.g. NOT_SERVING while a model reloads); `''` is the
   * whole server. Ignored once shutdown has begun, which owns the status from then on.
   */
  setServingStatus(service: string, status: Extract<ServingStatus, 'SERVING' | 'NOT_SERVING'>): void {
    if (service !== '' && !this.serviceNames.includes(service)) throw new Error(`Unknown service ${service}`);
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.health.setStatus(service, status);
  }

  /**
   * Drains the server: health goes NOT_SERVING everywhere, new calls are refused, in-flight calls may
   * finish within `graceMs`; after that their signals abort (UNAVAILABLE) and, a moment later,
   * remaining connections are dropped. Safe to call more than once.
   */
  shutdown(options: ShutdownOptions = {}): Promise<void> {
    this.stopping ??= this.drain(options);
    return this.stopping;
  }

  private async drain(options: ShutdownOptions): Promise<void> {
    const graceMs = options.graceMs ?? this.options.shutdownGraceMs;
    if (this.state === 'new') {
      this.state = 'stopped';
      this.server.forceShutdown();
      return;
    }
    await this.starting?.catch(() => undefined);
    this.state = 'stopping';
    const startedAt = Date.now();
    this.logger.info({ activeCalls: this.activeCalls, graceMs }, 'grpc server shutting down');
    for (const name of ['', ...this.serviceNames]) this.health.setStatus(name, 'NOT_SERVING');
    if (options.drainDelayMs) await sleep(options.drainDelayMs);
    for (const watch of this.watches) watch.end();
    this.watches.clear();

    const closed = new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    const drained = await settlesWithin(Promise.all([closed, this.handlersSettled()]), graceMs);
    let aborted = 0;
    if (!drained) {
      const reason = ServiceError.unavailable('The server is shutting down');
      for (const run of this.runtime.active) {
        run.abort(reason);
        aborted += 1;
      }
      // Waiting for `closed` too lets the final statuses reach clients before connections drop.
      await settlesWithin(Promise.all([closed, this.handlersSettled()]), ABORT_WAIT_MS);
      this.server.forceShutdown();
    }
    this.state = 'stopped';
    this.logger.info({ durationMs: Date.now() - startedAt, forced: !drained, abortedCalls: aborted }, 'grpc server stopped');
  }

  private async handlersSettled(): Promise<void> {
    while (this.runtime.active.size > 0) {
      await Promise.all([...this.runtime.active].map((run) => run.done));
    }
  }
}

/** A server with the platform's conventions; add services, then `start()`. */
export function createGrpcServer(options: GrpcServerOptions = {}): GrpcServer {
  return new GrpcServer(options);
}

/** Creates a server, registers `services` and starts it; read the bound port from `server.port`. */
export async function startGrpcServer(
  options: GrpcServerOptions & { services: readonly ServiceRegistration[] },
): Promise<GrpcServer> {
  const { services, ...serverOptions } = options;
  const server = createGrpcServer(serverOptions);
  for (const s of services) server.addService(s.packageDefinition, s.serviceName, s.implementation, s.options);
  await server.start();
  return server;
}
