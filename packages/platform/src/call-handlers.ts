// Adapts async handlers to grpc-js call objects: deadlines, cancellation, error → status mapping,
// request ids and one log line per call.
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Readable, Writable } from 'node:stream';
import {
  Metadata,
  status as GrpcStatus,
  type ServerDuplexStream,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type StatusObject,
  type UntypedHandleCall,
  type sendUnaryData,
} from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { CallContext } from './call-context.js';
import { ERROR_DETAILS_TRAILER, REQUEST_ID_HEADER } from './conventions.js';
import { ServiceError, isServiceError, statusName } from './errors.js';
import { requestLogger } from './logger.js';

/** Node timers overflow above this; a deadline further away is treated as none. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface MethodInfo {
  /** `/package.Service/Method` */
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  /** Deadline imposed on calls that arrive without one; 0 means none. */
  defaultDeadlineMs: number;
}

/** Server-wide state the wrappers share: where to log and which calls are still running. */
export interface CallRuntime {
  logger: Logger;
  active: Set<CallRun>;
}

type AnyHandler = (input: never, ctx: CallContext) => unknown;
type SurfaceCall = ServerUnaryCall<unknown, unknown> | ServerReadableStream<unknown, unknown>;
type Respond = (status: StatusObject, value: unknown) => void;

const CLIENT_SIDE_CODES = new Set<GrpcStatus>([
  GrpcStatus.OK,
  GrpcStatus.CANCELLED,
  GrpcStatus.INVALID_ARGUMENT,
  GrpcStatus.NOT_FOUND,
  GrpcStatus.ALREADY_EXISTS,
  GrpcStatus.PERMISSION_DENIED,
  GrpcStatus.UNAUTHENTICATED,
  GrpcStatus.FAILED_PRECONDITION,
  GrpcStatus.OUT_OF_RANGE,
]);
const TRANSIENT_CODES = new Set<GrpcStatus>([
  GrpcStatus.DEADLINE_EXCEEDED,
  GrpcStatus.RESOURCE_EXHAUSTED,
  GrpcStatus.UNAVAILABLE,
  GrpcStatus.ABORTED,
]);

function pickRequestId(metadata: Metadata): string {
  const given = metadata.get(REQUEST_ID_HEADER)[0];
  // Only ids that are safe to echo into logs and trailers are kept; anything else gets a fresh one.
  return typeof given === 'string' && /^[\x21-\x7e]{1,128}$/.test(given) ? given : randomUUID();
}

function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError');
}

/** One running call: its context, its deadline timer, and the single place it ends. */
export class CallRun {
  readonly ctx: CallContext;
  /** Settles when the handler has returned or thrown (which may be after the call ended). */
  done: Promise<void> = Promise.resolve();
  private readonly controller = new AbortController();
  private readonly logger: Logger;
  private readonly startedAt = performance.now();
  private readonly timer: NodeJS.Timeout | undefined;
  /** Milliseconds the call had when it arrived, for the DEADLINE_EXCEEDED message. */
  private readonly budgetMs: number;
  private ended = false;

  constructor(
    call: SurfaceCall,
    method: MethodInfo,
    private readonly runtime: CallRuntime,
    private readonly respond: Respond,
  ) {
    const requestId = pickRequestId(call.metadata);
    this.logger = requestLogger(runtime.logger, requestId, { method: method.path });
    const clientDeadline = Number(call.getDeadline());
    // A server-streaming call (one request, a stream of answers: WatchJob, a generation's progress) lasts as
    // long as what it follows, so it gets no default: without a deadline of its own it runs until it ends,
    // the client cancels it or the server drains. Every other kind gets the default.
    // One clock reading for the deadline and the budget reported when it passes: a default of 200 ms is
    // reported as 200, however long the set-up below takes.
    const arrivedAt = Date.now();
    const deadline =
      Number.isFinite(clientDeadline) || method.defaultDeadlineMs <= 0 || (method.responseStream && !method.requestStream)
        ? clientDeadline
        : arrivedAt + method.defaultDeadlineMs;
    const signal = this.controller.signal;
    // Everything a call does hangs off its signal: a streaming call with hundreds of items in flight (each
    // waiting in a batcher with an abort listener that is removed when it is done) is not a leak, so Node's
    // 10-listener warning would only be noise in the service's log.
    setMaxListeners(0, signal);
    this.ctx = {
      method: method.path,
      requestId,
      metadata: call.metadata,
      peer: call.getPeer(),
      deadline,
      signal,
      remainingMs: () => Math.max(0, deadline - Date.now()),
      logger: this.logger,
    };
    this.budgetMs = Math.max(0, Math.round(deadline - arrivedAt));
    const timeout = deadline - Date.now();
    if (timeout <= MAX_TIMER_MS) {
      this.timer = setTimeout(() => this.onDeadline(), Math.max(0, timeout));
    }
    // grpc-js emits 'cancelled' also after a normal end; `ended` makes that a no-op.
    call.on('cancelled', () => this.onCancelled());
    runtime.active.add(this);
    this.logger.debug({ peer: this.ctx.peer, deadlineMs: Number.isFinite(deadline) ? timeout : null }, 'rpc started');
  }

  /** Runs the handler body; whatever it resolves to or throws ends the call. */
  run(body: () => Promise<unknown>): void {
    this.done = body()
      .then(
        (value) => this.end({ value }),
        (error: unknown) => this.end({ error }),
      )
      .finally(() => this.runtime.active.delete(this));
  }

  /** Fires the context's signal; the handler decides how to wind down. */
  abort(reason: ServiceError): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  get isEnded(): boolean {
    return this.ended;
  }

  private onDeadline(): void {
    const reason = ServiceError.deadlineExceeded(`Deadline of ${this.budgetMs} ms exceeded`);
    this.abort(reason);
    // End now rather than wait for the handler: a caller past its deadline should hear so on time.
    this.end({ error: reason });
  }

  private onCancelled(): void {
    if (this.ended) return;
    // The wire does not say why a client cancelled. Its deadline timer started before the request left, while
    // ours started on arrival, so a client whose deadline passed cancels a little before our deadline: by the
    // request's transit and queueing time, which on a loaded machine is tens of milliseconds.
    const slackMs = Math.max(50, Math.min(1_000, this.budgetMs * 0.1));
    const pastDeadline = Date.now() >= this.ctx.deadline - slackMs;
    const reason = pastDeadline
      ? ServiceError.deadlineExceeded('Deadline exceeded')
      : ServiceError.cancelled('The client cancelled the call');
    this.abort(reason);
    this.end({ error: reason });
  }

  private end(outcome: { value: unknown } | { error: unknown }): void {
    if (this.ended) {
      if ('error' in outcome && !isServiceError(outcome.error) && !isAbortError(outcome.error)) {
        this.logger.debug({ err: outcome.error }, 'handler failed after its call had ended');
      }
      return;
    }
    this.ended = true;
    clearTimeout(this.timer);
    const trailer = new Metadata();
    trailer.set(REQUEST_ID_HEADER, this.ctx.requestId);
    const durationMs = Math.round((performance.now() - this.startedAt) * 10) / 10;
    const fields = { code: 'OK', durationMs, peer: this.ctx.peer };

    if (!('error' in outcome)) {
      this.logger.info(fields, 'rpc finished');
      this.respond({ code: GrpcStatus.OK, details: 'OK', metadata: trailer }, outcome.value);
      return;
    }
    const { error } = outcome;

    const known = this.knownError(error);
    if (known) {
      if (known.details !== undefined) trailer.set(ERROR_DETAILS_TRAILER, JSON.stringify(known.details));
      const level = CLIENT_SIDE_CODES.has(known.code) ? 'info' : TRANSIENT_CODES.has(known.code) ? 'warn' : 'error';
      const logged = { ...fields, code: statusName(known.code), error: known.message, err: known.cause };
      this.logger[level](logged, 'rpc finished');
      this.respond({ code: known.code, details: known.message, metadata: trailer }, undefined);
      return;
    }

    // Unplanned failure: the stack goes to the log, the client gets a generic message it can quote.
    this.logger.error({ ...fields, code: 'UNKNOWN', err: error }, 'rpc failed with an unexpected error');
    this.respond(
      {
        code: GrpcStatus.UNKNOWN,
        details: `Unexpected server error (request id ${this.ctx.requestId})`,
        metadata: trailer,
      },
      undefined,
    );
  }

  private knownError(error: unknown): ServiceError | undefined {
    if (isServiceError(error)) return error;
    const { signal } = this.controller;
    if (signal.aborted && (error === signal.reason || isAbortError(error))) return signal.reason as ServiceError;
    return undefined;
  }
}

function statusError(status: StatusObject): StatusObject & Error {
  return Object.assign(new Error(status.details), status);
}

async function writeMessage(stream: Writable, message: unknown, signal: AbortSignal): Promise<void> {
  if (stream.write(message)) return;
  await new Promise<void>((resolve, reject) => {
    const done = (): void => {
      stream.off('drain', done);
      signal.removeEventListener('abort', aborted);
      resolve();
    };
    const aborted = (): void => {
      stream.off('drain', done);
      reject(signal.reason as Error);
    };
    stream.on('drain', done);
    signal.addEventListener('abort', aborted, { once: true });
  });
}

/**
 * The client's messages as an async iterable that throws the signal's reason on abort. Reads with
 * `read()` rather than the stream's own iterator, whose early exit would destroy a duplex call.
 */
async function* readMessages(stream: Readable, signal: AbortSignal): AsyncGenerator<unknown> {
  for (;;) {
    signal.throwIfAborted();
    const message: unknown = stream.read();
    if (message !== null) {
      yield message;
      continue;
    }
    if (stream.readableEnded) return;
    if (stream.destroyed) throw ServiceError.cancelled('The client cancelled the call');
    await new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        stream.off('readable', ready);
        stream.off('end', ready);
        stream.off('close', ready);
        signal.removeEventListener('abort', aborted);
      };
      const ready = (): void => {
        cleanup();
        resolve();
      };
      const aborted = (): void => {
        cleanup();
        reject(signal.reason as Error);
      };
      stream.on('readable', ready);
      stream.on('end', ready);
      stream.on('close', ready);
      signal.addEventListener('abort', aborted, { once: true });
    });
  }
}

async function pipeResponses(output: unknown, call: Writable, run: CallRun, method: MethodInfo): Promise<void> {
  if (output === null || typeof output !== 'object' || !(Symbol.asyncIterator in output || Symbol.iterator in output)) {
    throw new TypeError(`Handler of streaming method ${method.path} did not return an iterable`);
  }
  for await (const message of output as AsyncIterable<unknown>) {
    if (run.isEnded) break;
    await writeMessage(call, message, run.ctx.signal);
  }
}

/** A grpc-js handler for `method` that runs `handler` with a CallContext. */
export function wrapHandler(method: MethodInfo, handler: AnyHandler, runtime: CallRuntime): UntypedHandleCall {
  const invoke = handler as (input: unknown, ctx: CallContext) => unknown;
  if (!method.requestStream && !method.responseStream) {
    return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
      const run = new CallRun(call, method, runtime, (status, value) => {
        if (status.code === GrpcStatus.OK) callback(null, value ?? {}, status.metadata);
        else callback(status, null, status.metadata);
      });
      run.run(async () => invoke(call.request, run.ctx));
    };
  }
  if (!method.requestStream) {
    return (call: ServerWritableStream<unknown, unknown>) => {
      const run = new CallRun(call, method, runtime, (status) => endStream(call, status));
      run.run(async () => pipeResponses(invoke(call.request, run.ctx), call, run, method));
    };
  }
  if (!method.responseStream) {
    return (call: ServerReadableStream<unknown, unknown>, callback: sendUnaryData<unknown>) => {
      const run = new CallRun(call, method, runtime, (status, value) => {
        if (status.code === GrpcStatus.OK) callback(null, value ?? {}, status.metadata);
        else callback(status, null, status.metadata);
      });
      run.run(async () => invoke(readMessages(call, run.ctx.signal), run.ctx));
    };
  }
  return (call: ServerDuplexStream<unknown, unknown>) => {
    const run = new CallRun(call, method, runtime, (status) => endStream(call, status));
    run.run(async () => pipeResponses(invoke(readMessages(call, run.ctx.signal), run.ctx), call, run, method));
  };
}

function endStream(call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>, status: StatusObject): void {
  if (status.code === GrpcStatus.OK) call.end(status.metadata);
  // grpc-js turns an 'error' event on a server stream into the call's final status.
  else call.emit('error', statusError(status));
}
