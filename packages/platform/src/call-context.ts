import type { Metadata } from '@grpc/grpc-js';
import type { Logger } from 'pino';

/** What a handler knows about the call it serves, beyond the request itself. */
export interface CallContext {
  /** Full method path, `/select.embedding.v1.EmbeddingService/EmbedImages`. */
  readonly method: string;
  /** From the `x-request-id` metadata, or generated; echoed in the `x-request-id` trailer. */
  readonly requestId: string;
  /** Request metadata as the client sent it. */
  readonly metadata: Metadata;
  /** Client address, `ip:port`. */
  readonly peer: string;
  /**
   * When the call must be over, as epoch milliseconds: the client's deadline, else the server's
   * default deadline for calls without one; `Infinity` when neither applies.
   */
  readonly deadline: number;
  /**
   * Fires when the call should stop: deadline passed (reason: DEADLINE_EXCEEDED ServiceError), client
   * cancelled (CANCELLED), or the server's shutdown grace ran out (UNAVAILABLE). Pass it to anything
   * that takes a signal; throwing `signal.reason` ends the call with that status.
   */
  readonly signal: AbortSignal;
  /** Milliseconds left before `deadline` (0 once passed, `Infinity` without a deadline). */
  remainingMs(): number;
  /** Logger whose lines carry this call's `requestId` and `method`. */
  readonly logger: Logger;
}

/** Returns (or resolves to) the response; throw a ServiceError to fail with a deliberate status. */
export type UnaryHandler<Req, Res> = (request: Req, ctx: CallContext) => Promise<Res> | Res;

/** Yields the responses, typically an `async function*`; the stream ends when the iterable does. */
export type ServerStreamHandler<Req, Res> = (request: Req, ctx: CallContext) => AsyncIterable<Res> | Iterable<Res>;

/** Consumes the request stream (ends when the client half-closes) and returns one response. */
export type ClientStreamHandler<Req, Res> = (requests: AsyncIterable<Req>, ctx: CallContext) => Promise<Res> | Res;

/** Consumes the request stream while yielding responses. */
export type BidiStreamHandler<Req, Res> = (
  requests: AsyncIterable<Req>,
  ctx: CallContext,
) => AsyncIterable<Res> | Iterable<Res>;

/**
 * Handlers of one service, keyed by method name as in the proto (`EmbedImages`) or camelCase
 * (`embedImages`). The handler kind is taken from the method's definition (streaming flags).
 */
export type ServiceImplementation = Readonly<Record<string, (input: never, ctx: CallContext) => unknown>>;
