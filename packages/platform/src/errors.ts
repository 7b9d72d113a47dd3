import { Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import type { ServiceError as GrpcServiceError } from '@grpc/grpc-js';
import { ERROR_DETAILS_TRAILER } from './conventions.js';


/** Name of a gRPC status code (`5` → `NOT_FOUND`), for logs and messages. */
export function statusName(code: number): string {
  return GrpcStatus[code] ?? `STATUS_${code}`;
}

// A brand instead of `instanceof` alone: a service may load two copies of this package (dist and src
// in tests, or two installs), and an error thrown by one must still be recognised by the other.
const SERVICE_ERROR_BRAND = Symbol.for('@select/platform.ServiceError');

export interface ServiceErrorOptions {
  /** Structured, client-visible facts about the failure (sent as JSON in the `x-error-details` trailer). */
  details?: Readonly<Record<string, unknown>>;
  /** The underlying error; logged on the server, never sent to the client. */
  cause?: unknown;
}

/**
 * The one error type a handler throws to end a call with a deliberate gRPC status. Its message is sent
 * to the client verbatim, so write it for the caller. Anything else thrown by a handler becomes
 * UNKNOWN with a generic message (see the server's handler wrappers).
 */
export class ServiceError extends Error {
  override readonly name: string = 'ServiceError';
  readonly code: GrpcStatus;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: GrpcStatus, message: string, options: ServiceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
    Object.defineProperty(this, SERVICE_ERROR_BRAND, { value: true });
  }

  /** The request is malformed or a field is out of range; retrying the same request will fail again. */
  static invalidArgument(message: string, options?: ServiceErrorOptions): ServiceError {
    return new ServiceError(GrpcStatus.INVALID_ARGUMENT, message, options);
  }
  /** A named entity (shift, job, model, sample) does not exist. */
  static notFound(message: string, options?: ServiceErrorOptions): ServiceError {
    return new ServiceError(GrpcStatus.NOT_FOUND, message, options);
  }
  /** The entity the caller tried to create already exists. */
  static alreadyExists(message: string, options?: ServiceErrorOptions): ServiceError {
    return new ServiceError(GrpcStatus.ALREADY_EXISTS, message, options);
  }
  /** A quota, queue or memory limit is hit; the caller may retry later with backoff. */
  static resourceExhausted(message: string, options?: ServiceErrorOptions): ServiceError {
    return new ServiceError(GrpcStatus.RESOURCE_EXHAUSTED, message, options);
  }
  /** The system is not in the state the call needs (e.g. model not loaded, shift not finished). */
  static failedPrecondition(message: string, options?: ServiceErrorOptions): ServiceError {
    return new ServiceError(GrpcStatus.FAILED_PRECONDITION, message, options);
  }
  /** A transient condition (dependency down, shutting down); safe to retry idempotent calls. */
  static unavailable(message: string, options?: ServiceErrorOptions): ServiceError {
    return new ServiceError(GrpcStatus.UNAVAILABLE, message, options);
  }
  /** The call's deadline passed before the work finished. */
  static deadlineExceeded(message: string, options?: ServiceErrorOptions): ServiceError {
    return new ServiceError(GrpcStatus.DEADLINE_EXCEEDED, message, options);
  }
  /** The caller is known but not allowed to do this. */
  static permissionDenied(message: string, options?: ServiceErrorOptions): ServiceError {
    return new ServiceError(GrpcStatus.PERMISSION_DENIED, message, options);
  }
  /** The caller did not present valid credentials. */
  static unauthenticated(message: string, options?: ServiceErrorOptions): ServiceError {
    return new ServiceError(GrpcStatus.UNAUTHENTICATED, message, options);
  }
  /** The call was cancelled (by the client, or by a shutdown). */
  static cancelled(message: string, options?: ServiceErrorOptions): ServiceError {
    return new ServiceError(GrpcStatus.CANCELLED, message, options);
  }
  /** An invariant of this service broke; the message should still say what failed. */
  static internal(message: string, options?: ServiceErrorOptions): ServiceError {
    return new ServiceError(GrpcStatus.INTERNAL, message, options);
  }
  /** The method exists in the contract but this server does not implement it. */
  static unimplemented(message: string, options?: ServiceErrorOptions): ServiceError {
    return new ServiceError(GrpcStatus.UNIMPLEMENTED, message, options);
  }
}

/** True for a `ServiceError` from any loaded copy of this package. */
export function isServiceError(value: unknown): value is ServiceError {
  return (
    value instanceof ServiceError ||
    (typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[SERVICE_ERROR_BRAND] === true)
  );
}

/**
 * A call made with this package's client failed. Kept distinct from `ServiceError` on purpose: a
 * handler that lets a downstream failure escape ends its own call with UNKNOWN (and a logged stack)
 * rather than silently forwarding the downstream status; rethrow a `ServiceError` to forward one.
 */
export class GrpcCallError extends Error {
  override readonly name: string = 'GrpcCallError';
  readonly code: GrpcStatus;
  /** `/package.Service/Method` or the method name the call was made with. */
  readonly method: string;
  /** The status message the server sent (grpc-js calls it `details`). */
  readonly serverMessage: string;
  /** Trailing metadata of the failed call. */
  readonly metadata: Metadata;
  /** The server's `ServiceError.details`, parsed from the `x-error-details` trailer, when it sent some. */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(method: string, error: Pick<GrpcServiceError, 'code' | 'details' | 'metadata'> & { message?: string }) {
    const code = typeof error.code === 'number' ? error.code : GrpcStatus.UNKNOWN;
    super(`${method} failed with ${statusName(code)}: ${error.details || error.message || 'no details'}`, {
      cause: error,
    });
    this.code = code;
    this.method = method;
    this.serverMessage = error.details ?? '';
    this.metadata = error.metadata ?? new Metadata();
    this.details = parseErrorDetails(this.metadata);
  }
}

function parseErrorDetails(metadata: Metadata): Record<string, unknown> | undefined {
  const raw = metadata.get(ERROR_DETAILS_TRAILER)[0];
  if (typeof raw !== 'string') return undefined;
  try {
    const parsed: unknown = JSON.parse(raw);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export interface ConfigIssue {
  /** Key of the option in its schema. */
  option: string;
  /** Environment variable that sets it. */
  env: string;
  /** Where the offending value came from. */
  source: 'code' | 'env' | 'default' | 'missing';
  /** The offending value as given (absent for a missing required option). */
  value?: unknown;
  /** What is wrong, written for the operator. */
  reason: string;
}

/** Configuration could not be resolved; `issues` lists every offending option, not just the first. */
export class ConfigError extends Error {
  override readonly name: string = 'ConfigError';
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super(`Invalid configuration: ${issues.map(describeIssue).join('; ')}`);
    this.issues = issues;
  }
}

function describeIssue(issue: ConfigIssue): string {
  switch (issue.source) {
    case 'env':
      return `${issue.env}=${JSON.stringify(issue.value)} ${issue.reason}`;
    case 'code':
      return `option "${issue.option}" (set in code) = ${JSON.stringify(issue.value)} ${issue.reason}`;
    case 'default':
      return `default of ${issue.env} = ${JSON.stringify(issue.value)} ${issue.reason}`;
    case 'missing':
      return `${issue.env} ${issue.reason}`;
  }
}
