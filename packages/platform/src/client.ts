import {
  InterceptingCall,
  Metadata,
  makeClientConstructor,
  status as GrpcStatus,
  type ChannelCredentials,
  type ChannelOptions,
  type Client,
  type ClientOptions,
  type Interceptor,
  type ServiceClientConstructor,
  type ServiceDefinition,
  type ServiceError as GrpcServiceError,
} from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { bearerTokenInterceptor } from './bearer-auth.js';
import type { CallContext } from './call-context.js';
import { DEFAULT_MAX_MESSAGE_BYTES, REQUEST_ID_HEADER } from './conventions.js';
import { GrpcCallError, statusName } from './errors.js';
import { findService } from './proto.js';
import { channelCredentials, type ClientTlsOptions } from './tls.js';

/** grpc-js refuses more attempts than this unless a channel option raises it. */
const GRPC_JS_MAX_ATTEMPTS = 5;

export interface RetryOptions {
  /** Attempts in total, first one included (grpc-js caps it at 5). @default 4 */
  maxAttempts?: number;
  /** Backoff before the first retry; each later one is multiplied, then jittered ±20%. @default 100 */
  initialBackoffMs?: number;
  /** @default 5000 */
  maxBackoffMs?: number;
  /** @default 2 */
  backoffMultiplier?: number;
  /**
   * Statuses that trigger a retry. UNAVAILABLE means the request was not processed or the server is
   * going away; add RESOURCE_EXHAUSTED for servers that shed load. DEADLINE_EXCEEDED is never useful
   * here: the deadline covers all attempts together. @default [UNAVAILABLE]
   */
  retryableCodes?: readonly GrpcStatus[];
  /** Requests larger than this are sent once and not retried (grpc-js buffers them for replay). @default 16777216 */
  bufferBytes?: number;
}

export interface GrpcClientOptions {
  /** Deadline for calls made without one that answer once; server-streaming calls (WatchJob) get none. 0 disables. @default 30000 */
  defaultDeadlineMs?: number;
  /** Connect with TLS (and a client certificate for mutual TLS). @default undefined (plaintext) */
  tls?: ClientTlsOptions;
  /** Sent as `authorization: Bearer <token>` on every call. @default undefined */
  authToken?: string;
  /**
   * Methods safe to retry (proto name `GetShift` or camelCase `getShift`). Methods whose proto declares
   * `option idempotency_level = IDEMPOTENT` (or NO_SIDE_EFFECTS) count as listed. @default []
   */
  idempotentMethods?: readonly string[];
  /** How idempotent methods are retried. */
  retry?: RetryOptions;
  /** @default 67108864 (64 MiB) */
  maxReceiveMessageBytes?: number;
  /** @default 67108864 (64 MiB) */
  maxSendMessageBytes?: number;
  /** Extra grpc-js channel options, applied last. */
  channelOptions?: ChannelOptions;
  /** Extra client interceptors, run after the platform's (deadline, auth). */
  interceptors?: readonly Interceptor[];
}

/** The client of a service loaded at run time: its methods are looked up by name. */
export type GenericServiceClient = InstanceType<ServiceClientConstructor>;

/** A generated (or `makeClientConstructor`) client class: construct-able and carrying its definition. */
export type ClientConstructor<C extends Client> = (new (
  address: string,
  credentials: ChannelCredentials,
  options?: ClientOptions,
) => C) & { service: ServiceDefinition; serviceName?: string };

interface MethodShape {
  path: string;
  originalName?: string;
  options?: { idempotency_level?: string };
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(3)}s`;
}

function idempotentNames(definition: ServiceDefinition, listed: readonly string[]): MethodShape[] {
  const methods = Object.entries(definition as unknown as Record<string, MethodShape>);
  const wanted = new Set(listed);
  for (const name of listed) {
    if (!methods.some(([n, m]) => n === name || m.originalName === name)) {
      throw new Error(`idempotentMethods lists ${name}, which is not a method of this service`);
    }
  }
  return methods
    .filter(([name, method]) => {
      const level = method.options?.idempotency_level;
      return (
        wanted.has(name) ||
        (method.originalName !== undefined && wanted.has(method.originalName)) ||
        level === 'IDEMPOTENT' ||
        level === 'NO_SIDE_EFFECTS'
      );
    })
    .map(([, method]) => method);
}

/**
 * Retries use grpc-js's built-in implementation of the gRPC retry design (A6) through the service
 * config: exponential backoff with ±20% jitter, replay of buffered requests, no retry once the server
 * has sent response headers, and the call's one deadline bounding all attempts.
 */
function retryServiceConfig(methods: readonly MethodShape[], retry: RetryOptions): string | undefined {
  if (methods.length === 0) return undefined;
  const maxAttempts = retry.maxAttempts ?? 4;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 2 || maxAttempts > GRPC_JS_MAX_ATTEMPTS) {
    throw new Error(`retry.maxAttempts must be an integer from 2 to ${GRPC_JS_MAX_ATTEMPTS}, got ${maxAttempts}`);
  }
  const codes = retry.retryableCodes ?? [GrpcStatus.UNAVAILABLE];
  if (codes.length === 0) throw new Error('retry.retryableCodes must not be empty');
  return JSON.stringify({
    methodConfig: [
      {
        name: methods.map((m) => {
          const [, service, method] = /^\/([^/]+)\/([^/]+)$/.exec(m.path) ?? [];
          return { service, method };
        }),
        retryPolicy: {
          maxAttempts,
          initialBackoff: seconds(retry.initialBackoffMs ?? 100),
          maxBackoff: seconds(retry.maxBackoffMs ?? 5_000),
          backoffMultiplier: retry.backoffMultiplier ?? 2,
          retryableStatusCodes: codes.map((code) => statusName(code)),
        },
      },
    ],
  });
}

function defaultDeadlineInterceptor(ms: number): Interceptor {
  return (options, nextCall) => {
    // A server-streaming call (WatchJob and the like) follows something that may take hours: it gets no
    // default, only a deadline its caller gives it.
    const following = options.method_definition.responseStream && !options.method_definition.requestStream;
    if ((options.deadline === undefined || options.deadline === Infinity) && !following) {
      options.deadline = Date.now() + ms;
    }
    return new InterceptingCall(nextCall(options));
  };
}

export function createGrpcClient<C extends Client>(
  ctor: ClientConstructor<C>,
  address: string,
  options?: GrpcClientOptions,
): C;
export function createGrpcClient<C extends Client = GenericServiceClient>(
  packageDefinition: PackageDefinition,
  serviceName: string,
  address: string,
  options?: GrpcClientOptions,
): C;
/**
 * A client for one service at `address` (`host:port`), from a client class or from a package
 * definition and the service's full name, with a default deadline, TLS, bearer token and retries
 * of idempotent methods. Close it with `client.close()`.
 */
export function createGrpcClient(
  first: ClientConstructor<Client> | PackageDefinition,
  second: string,
  third?: string | GrpcClientOptions,
  fourth?: GrpcClientOptions,
): Client {
  let ctor: ClientConstructor<Client>;
  let address: string;
  let options: GrpcClientOptions;
  if (typeof first === 'function') {
    ctor = first;
    address = second;
    options = (third as GrpcClientOptions | undefined) ?? {};
  } else {
    ctor = makeClientConstructor(findService(first, second) as ServiceDefinition, second);
    address = third as string;
    options = fourth ?? {};
  }
  const interceptors: Interceptor[] = [];
  const defaultDeadlineMs = options.defaultDeadlineMs ?? 30_000;
  if (defaultDeadlineMs > 0) interceptors.push(defaultDeadlineInterceptor(defaultDeadlineMs));
  if (options.authToken !== undefined) interceptors.push(bearerTokenInterceptor(options.authToken));
  interceptors.push(...(options.interceptors ?? []));

  const retry = options.retry ?? {};
  const serviceConfig = retryServiceConfig(idempotentNames(ctor.service, options.idempotentMethods ?? []), retry);
  const bufferBytes = retry.bufferBytes ?? 16 * 1024 * 1024;
  const channelOptions: ChannelOptions = {
    'grpc.max_receive_message_length': options.maxReceiveMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': options.maxSendMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    'grpc.per_rpc_retry_buffer_size': bufferBytes,
    'grpc.retry_buffer_size': Math.max(bufferBytes, 64 * 1024 * 1024),
    ...(serviceConfig ? { 'grpc.service_config': serviceConfig } : {}),
    ...(options.tls?.serverName
      ? { 'grpc.ssl_target_name_override': options.tls.serverName, 'grpc.default_authority': options.tls.serverName }
      : {}),
    ...options.channelOptions,
  };
  return new ctor(address, channelCredentials(options.tls), { ...channelOptions, interceptors });
}

export interface UnaryCallOptions {
  /** Deadline of this call in milliseconds from now. @default the client's defaultDeadlineMs */
  deadlineMs?: number;
  /** Extra request metadata. */
  metadata?: Metadata | Readonly<Record<string, string>>;
  /** Cancels the call when it fires; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * The server call this one is made for: its deadline caps this call's, its cancellation cancels
   * this call, and its request id is forwarded as `x-request-id`.
   */
  context?: CallContext;
}

type UnaryMethod = ((
  request: unknown,
  metadata: Metadata,
  options: { deadline?: number },
  callback: (error: GrpcServiceError | null, response?: unknown) => void,
) => { cancel(): void }) & { path?: string; requestStream?: boolean; responseStream?: boolean };

/**
 * Calls unary `method` (proto or camelCase name) and resolves to its response. A failure rejects
 * with a GrpcCallError (status code, server message, trailers); a cancellation by `signal` or
 * `context` rejects with that signal's reason, so a handler can simply let it propagate.
 */
export function unary<Res = unknown>(
  client: Client,
  method: string,
  request: unknown,
  options: UnaryCallOptions = {},
): Promise<Res> {
  const fn = (client as unknown as Record<string, unknown>)[method] as UnaryMethod | undefined;
  if (typeof fn !== 'function' || fn.requestStream || fn.responseStream) {
    return Promise.reject(new TypeError(`${method} is not a unary method of this client`));
  }
  const path = fn.path ?? method;
  const signals = [options.signal, options.context?.signal].filter((s): s is AbortSignal => s !== undefined);
  const aborted = signals.find((s) => s.aborted);
  if (aborted) return Promise.reject(aborted.reason as Error);

  const metadata = new Metadata();
  if (options.metadata instanceof Metadata) metadata.merge(options.metadata);
  else for (const [key, value] of Object.entries(options.metadata ?? {})) metadata.set(key, value);
  if (options.context && metadata.get(REQUEST_ID_HEADER).length === 0) {
    metadata.set(REQUEST_ID_HEADER, options.context.requestId);
  }
  const deadlines = [
    options.deadlineMs === undefined ? Infinity : Date.now() + options.deadlineMs,
    options.context?.deadline ?? Infinity,
  ];
  const deadline = Math.min(...deadlines);

  return new Promise<Res>((resolve, reject) => {
    const cleanups: (() => void)[] = [];
    const call = fn.call(
      client,
      request,
      metadata,
      Number.isFinite(deadline) ? { deadline } : {},
      (error: GrpcServiceError | null, response?: unknown) => {
        for (const cleanup of cleanups) cleanup();
        const cancelledBy = signals.find((s) => s.aborted);
        if (error) reject(cancelledBy ? (cancelledBy.reason as Error) : new GrpcCallError(path, error));
        else resolve(response as Res);
      },
    );
    for (const signal of signals) {
      const cancel = (): void => call.cancel();
      signal.addEventListener('abort', cancel, { once: true });
      cleanups.push(() => signal.removeEventListener('abort', cancel));
    }
  });
}
