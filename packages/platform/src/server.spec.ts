import { setTimeout as sleep } from 'node:timers/promises';
import type { ClientDuplexStream, ClientReadableStream, ClientWritableStream } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { ECHO_SERVICE, echoImplementation, echoPackage, type EchoReply } from '../test/fixtures/echo-service.js';
import {
  collect,
  collectUntilError,
  healthClient,
  listServices,
  reflectionClient,
} from '../test/fixtures/grpc-test-clients.js';
import { captureLogs, type CapturedLogs } from '../test/fixtures/log-capture.js';
import { until } from '../test/fixtures/until.js';
import {
  GrpcCallError,
  Metadata,
  ServiceError,
  createGrpcClient,
  createGrpcServer,
  status,
  unary,
  type CallContext,
  type GenericServiceClient,
  type GrpcClientOptions,
  type GrpcServer,
  type GrpcServerOptions,
  shutdownOnSignals,
} from './index.js';

const servers: GrpcServer[] = [];
const clients: GenericServiceClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => s.shutdown({ graceMs: 0 })));
});

async function startEcho(
  options: GrpcServerOptions = {},
  implementation: Record<string, unknown> = {},
): Promise<{ server: GrpcServer; logs: CapturedLogs }> {
  const logs = captureLogs('echo-test');
  const server = createGrpcServer({ logger: logs.logger, ...options });
  servers.push(server);
  server.addService(echoPackage(), ECHO_SERVICE, { ...echoImplementation, ...implementation } as never);
  await server.start();
  return { server, logs };
}

function client(address: string, options: GrpcClientOptions = {}): GenericServiceClient {
  const c = createGrpcClient(echoPackage(), ECHO_SERVICE, address, options);
  clients.push(c);
  return c;
}

function track<T extends GenericServiceClient>(c: T): T {
  clients.push(c);
  return c;
}

async function callError(promise: Promise<unknown>): Promise<GrpcCallError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GrpcCallError);
  return error as GrpcCallError;
}

describe('handlers', () => {
  it('serves unary calls on a port chosen by the OS, echoing and logging the request id', async () => {
    const { server, logs } = await startEcho();
    expect(server.port).toBeGreaterThan(0);
    expect(server.address).toBe(`127.0.0.1:${server.port}`);

    const reply = await unary<EchoReply>(client(server.address), 'Echo', { message: 'hi' }, {
      metadata: { 'x-request-id': 'req-42' },
    });
    expect(reply).toEqual({ message: 'hi', requestId: 'req-42' });

    const [line] = logs.find('rpc finished');
    expect(line).toMatchObject({
      service: 'echo-test',
      level: 'info',
      method: `/${ECHO_SERVICE}/Echo`,
      code: 'OK',
      requestId: 'req-42',
    });
    expect(line?.['durationMs']).toEqual(expect.any(Number));
  });

  it('generates a request id when the caller sends none', async () => {
    const { server } = await startEcho();
    const reply = await unary<EchoReply>(client(server.address), 'echo', { message: 'x' });
    expect(reply.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('streams responses, consumes client streams and runs bidirectional streams', async () => {
    const { server } = await startEcho();
    const c = client(server.address);

    const counted = await collect((c['count'] as (r: unknown) => ClientReadableStream<{ n: number }>)({ to: 5 }));
    expect(counted.map((m) => m.n)).toEqual([1, 2, 3, 4, 5]);

    const sum = await new Promise<unknown>((resolve, reject) => {
      const call = (c['sum'] as (cb: (e: Error | null, r?: unknown) => void) => ClientWritableStream<unknown>)(
        (e, r) => (e ? reject(e) : resolve(r)),
      );
      // int64 travels as a decimal string, past what a double holds exactly.
      for (const value of ['9007199254740993', '1', '2']) call.write({ value });
      call.end();
    });
    expect(sum).toEqual({ total: '9007199254740996', count: 3 });

    const chat = (c['chat'] as () => ClientDuplexStream<{ message: string }, EchoReply>)();
    const replies = collect(chat);
    chat.write({ message: 'a' });
    chat.write({ message: 'b' });
    chat.end();
    expect((await replies).map((r) => r.message)).toEqual(['A', 'B']);
  });

  it('ends a call with the status and message of a thrown ServiceError, details in a trailer', async () => {
    const { server, logs } = await startEcho({}, {
      echo: () => {
        throw ServiceError.invalidArgument('message must not be empty', { details: { field: 'message' } });
      },
    });
    const error = await callError(unary(client(server.address), 'Echo', { message: '' }));
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.serverMessage).toBe('message must not be empty');
    expect(error.details).toEqual({ field: 'message' });
    expect(logs.find('rpc finished')[0]).toMatchObject({ code: 'INVALID_ARGUMENT', level: 'info' });
  });

  it('turns an unexpected error into UNKNOWN without leaking its message, and logs its stack', async () => {
    const { server, logs } = await startEcho({}, {
      echo: async () => {
        throw new Error('password=hunter2 rejected by database');
      },
    });
    const error = await callError(
      unary(client(server.address), 'Echo', { message: 'x' }, { metadata: { 'x-request-id': 'req-7' } }),
    );
    expect(error.code).toBe(status.UNKNOWN);
    expect(error.message).not.toContain('hunter2');
    expect(error.message).toContain('req-7');

    const [line] = logs.find('rpc failed with an unexpected error');
    expect(line).toMatchObject({ level: 'error', code: 'UNKNOWN', requestId: 'req-7' });
    expect((line?.['err'] as { stack: string }).stack).toContain('hunter2');
  });

  it('fails a server stream mid-way with the thrown status, after the messages already sent', async () => {
    const { server } = await startEcho({}, {
      count: async function* () {
        yield { n: 1 };
        throw ServiceError.resourceExhausted('too many counters');
      },
    });
    const c = client(server.address);
    const { messages, error } = await collectUntilError(
      (c['count'] as (r: unknown) => ClientReadableStream<{ n: number }>)({ to: 3 }),
    );
    expect(messages).toEqual([{ n: 1 }]);
    expect(error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(error?.details).toBe('too many counters');
  });

  it('refuses to register a service with a method left unimplemented', () => {
    const server = createGrpcServer({ logger: captureLogs().logger });
    const { chat: _chat, ...withoutChat } = echoImplementation;
    expect(() => server.addService(echoPackage(), ECHO_SERVICE, withoutChat)).toThrow(/no handler for: Chat/);
  });
});

describe('message size limits', () => {
  it('refuses a request larger than maxReceiveMessageBytes with RESOURCE_EXHAUSTED and serves smaller ones', async () => {
    const { server } = await startEcho({ maxReceiveMessageBytes: 1024 });
    const c = client(server.address);
    expect(await unary<EchoReply>(c, 'Echo', { message: 'x'.repeat(900) })).toMatchObject({ message: 'x'.repeat(900) });
    const error = await callError(unary(c, 'Echo', { message: 'x'.repeat(2048) }));
    expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
  });

  it('fails a response larger than maxSendMessageBytes with RESOURCE_EXHAUSTED instead of sending it', async () => {
    const { server } = await startEcho({ maxSendMessageBytes: 1024 });
    const error = await callError(unary(client(server.address), 'Echo', { message: 'x'.repeat(2048) }));
    expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
  });

  it('lets a client refuse responses larger than its own maxReceiveMessageBytes', async () => {
    const { server } = await startEcho();
    const error = await callError(unary(client(server.address, { maxReceiveMessageBytes: 1024 }), 'Echo', { message: 'x'.repeat(2048) }));
    expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
  });
});

describe('deadlines and cancellation', () => {
  it('ends a call with DEADLINE_EXCEEDED when the client deadline passes, and aborts the handler', async () => {
    let reason: unknown;
    const { server } = await startEcho({}, {
      sleep: async (request: { ms: number }, ctx: CallContext) => {
        ctx.signal.addEventListener('abort', () => (reason = ctx.signal.reason));
        return echoImplementation.sleep(request, ctx);
      },
    });
    const started = Date.now();
    const error = await callError(unary(client(server.address), 'Sleep', { ms: 5_000 }, { deadlineMs: 150 }));
    expect(error.code).toBe(status.DEADLINE_EXCEEDED);
    expect(Date.now() - started).toBeLessThan(2_000);
    await until(() => reason !== undefined);
    expect(reason).toMatchObject({ code: status.DEADLINE_EXCEEDED });
  });

  it('gives calls without a deadline the server default, even if the handler ignores its signal', async () => {
    let remainingAtStart = 0;
    const { server, logs } = await startEcho({ defaultDeadlineMs: 200 }, {
      sleep: async (_request: unknown, ctx: CallContext) => {
        remainingAtStart = ctx.remainingMs();
        await sleep(700); // deliberately deaf to ctx.signal
        return { sleptMs: 700 };
      },
    });
    const started = Date.now();
    const error = await callError(unary(client(server.address, { defaultDeadlineMs: 0 }), 'Sleep', { ms: 0 }));
    expect(error.code).toBe(status.DEADLINE_EXCEEDED);
    expect(error.message).toContain('Deadline of 200 ms exceeded');
    expect(Date.now() - started).toBeLessThan(600);
    expect(remainingAtStart).toBeGreaterThan(100);
    expect(remainingAtStart).toBeLessThanOrEqual(200);
    expect(logs.find('rpc finished')[0]).toMatchObject({ code: 'DEADLINE_EXCEEDED', level: 'warn' });
  });

  it('gives a server-streaming call no default deadline: a watch outlives defaultDeadlineMs', async () => {
    const { server } = await startEcho({ defaultDeadlineMs: 200 });
    const c = client(server.address, { defaultDeadlineMs: 0 });
    const started = Date.now();
    // 8 replies 100 ms apart: 700 ms of stream against a 200 ms server default.
    const counted = await collect((c['count'] as (r: unknown) => ClientReadableStream<{ n: number }>)({ to: 8, intervalMs: 100 }));
    expect(counted.map((m) => m.n)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    // A deadline the client gives still applies to the stream.
    const error = await collect(
      (c['count'] as (r: unknown, options: unknown) => ClientReadableStream<{ n: number }>)({ to: 8, intervalMs: 100 }, { deadline: Date.now() + 250 }),
    ).then(
      () => undefined,
      (e: { code: number }) => e,
    );
    expect(error?.code).toBe(status.DEADLINE_EXCEEDED);
  });

  it('lets a call hang many abort listeners on its signal without a MaxListenersExceededWarning', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const { server } = await startEcho({}, {
        echo: async (request: { message: string }, ctx: CallContext) => {
          // as a stream with many items waiting in a batcher does: one listener per item, removed when it is done
          const listeners = Array.from({ length: 50 }, () => () => undefined);
          for (const listener of listeners) ctx.signal.addEventListener('abort', listener, { once: true });
          await sleep(10);
          for (const listener of listeners) ctx.signal.removeEventListener('abort', listener);
          return { message: request.message, requestId: ctx.requestId };
        },
      });
      const reply = await unary<{ message: string }>(client(server.address), 'Echo', { message: 'many' });
      expect(reply.message).toBe('many');
      await sleep(50); // warnings are emitted on the next tick
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('aborts the handler signal with CANCELLED when the client cancels', async () => {
    let resolveReason: (r: unknown) => void = () => undefined;
    const reason = new Promise<unknown>((r) => (resolveReason = r));
    const { server } = await startEcho({}, {
      sleep: async (request: { ms: number }, ctx: CallContext) => {
        ctx.signal.addEventListener('abort', () => resolveReason(ctx.signal.reason));
        return echoImplementation.sleep(request, ctx);
      },
    });
    const controller = new AbortController();
    const pending = unary(client(server.address), 'Sleep', { ms: 5_000 }, { signal: controller.signal });
    await until(() => server.activeCalls === 1);
    controller.abort(new Error('user gave up'));
    await expect(pending).rejects.toThrow('user gave up');
    expect(await reason).toMatchObject({ code: status.CANCELLED });
  });
});

describe('health and reflection', () => {
  it('reports SERVING for the server and each registered service, NOT_FOUND for others', async () => {
    const { server } = await startEcho();
    const health = track(healthClient(server.address));
    expect(await unary(health, 'Check', { service: '' })).toEqual({ status: 'SERVING' });
    expect(await unary(health, 'Check', { service: ECHO_SERVICE })).toEqual({ status: 'SERVING' });
    const error = await callError(unary(health, 'Check', { service: 'select.nope.v1.Nope' }));
    expect(error.code).toBe(status.NOT_FOUND);

    server.setServingStatus(ECHO_SERVICE, 'NOT_SERVING');
    expect(await unary(health, 'Check', { service: ECHO_SERVICE })).toEqual({ status: 'NOT_SERVING' });
  });

  it('lists the registered services over server reflection', async () => {
    const { server } = await startEcho();
    const services = await listServices(track(reflectionClient(server.address)));
    expect(services).toEqual(['grpc.health.v1.Health', ECHO_SERVICE]);
  });
});

describe('graceful shutdown', () => {
  it('reports NOT_SERVING while draining, before it stops accepting calls', async () => {
    const { server } = await startEcho();
    const health = track(healthClient(server.address));
    const stopping = server.shutdown({ drainDelayMs: 300 });
    await sleep(50);
    expect(await unary(health, 'Check', { service: '' })).toEqual({ status: 'NOT_SERVING' });
    expect(await unary(health, 'Check', { service: ECHO_SERVICE })).toEqual({ status: 'NOT_SERVING' });
    await stopping;
  });

  it('lets an in-flight call finish while refusing new calls', async () => {
    const { server, logs } = await startEcho();
    const address = server.address;
    const inFlight = unary(client(address), 'Sleep', { ms: 500 });
    await until(() => server.activeCalls === 1);
    const stopping = server.shutdown({ graceMs: 5_000 });
    await sleep(50);

    const refused = await callError(unary(client(address), 'Echo', { message: 'late' }, { deadlineMs: 2_000 }));
    expect(refused.code).toBe(status.UNAVAILABLE);
    expect(await inFlight).toEqual({ sleptMs: 500 });
    await stopping;
    expect(logs.find('grpc server stopped')[0]).toMatchObject({ forced: false, abortedCalls: 0 });
  });

  it('aborts long streams when the grace period runs out, so their handlers can end them', async () => {
    const { server, logs } = await startEcho();
    const c = client(server.address);
    const stream = collectUntilError(
      (c['count'] as (r: unknown) => ClientReadableStream<{ n: number }>)({ to: 1_000, intervalMs: 20 }),
    );
    await until(() => server.activeCalls === 1);
    await sleep(100);
    const started = Date.now();
    await server.shutdown({ graceMs: 200 });
    expect(Date.now() - started).toBeLessThan(1_500);

    const { messages, error } = await stream;
    expect(messages.length).toBeGreaterThan(0);
    expect(error?.code).toBe(status.UNAVAILABLE);
    expect(error?.details).toBe('The server is shutting down');
    expect(logs.find('grpc server stopped')[0]).toMatchObject({ forced: true, abortedCalls: 1 });
  });

  it('tells health watchers NOT_SERVING and ends their streams instead of waiting for the grace period', async () => {
    const { server } = await startEcho();
    const health = track(healthClient(server.address, { defaultDeadlineMs: 0 }));
    const watch = (health['watch'] as (r: unknown) => ClientReadableStream<{ status: string }>)({ service: '' });
    const statuses: string[] = [];
    const ended = new Promise<void>((resolve) => {
      watch.on('data', (m: { status: string }) => statuses.push(m.status));
      watch.on('error', () => resolve());
      watch.on('end', () => resolve());
    });
    await until(() => statuses.length === 1);
    const started = Date.now();
    await server.shutdown({ graceMs: 5_000 });
    await ended;
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(statuses).toEqual(['SERVING', 'NOT_SERVING']);
  });
});

describe('bearer token auth', () => {
  it('refuses calls without the right token, accepts the right one, and leaves health open', async () => {
    const { server } = await startEcho({ authTokens: ['s3cret'] });
    const address = server.address;

    const missing = await callError(unary(client(address), 'Echo', { message: 'x' }));
    expect(missing.code).toBe(status.UNAUTHENTICATED);
    const wrong = await callError(unary(client(address, { authToken: 'guess' }), 'Echo', { message: 'x' }));
    expect(wrong.code).toBe(status.UNAUTHENTICATED);

    const reply = await unary<EchoReply>(client(address, { authToken: 's3cret' }), 'Echo', { message: 'ok' });
    expect(reply.message).toBe('ok');

    expect(await unary(track(healthClient(address)), 'Check', { service: '' })).toEqual({ status: 'SERVING' });
    await expect(listServices(track(reflectionClient(address)))).rejects.toMatchObject({
      code: status.UNAUTHENTICATED,
    });
    expect(await listServices(track(reflectionClient(address, { authToken: 's3cret' })))).toContain(ECHO_SERVICE);
  });

  it('accepts a token sent by a caller building its own metadata', async () => {
    const { server } = await startEcho({ authTokens: ['one', 'two'] });
    const metadata = new Metadata();
    metadata.set('authorization', 'Bearer two');
    const reply = await unary<EchoReply>(client(server.address), 'Echo', { message: 'm' }, { metadata });
    expect(reply.message).toBe('m');
  });
});

describe('shutdownOnSignals', () => {
  it('drains the server on the signal, then runs the cleanup', async () => {
    const { server, logs } = await startEcho();
    let cleanedUp = false;
    const listenersBefore = process.listenerCount('SIGUSR2');
    const remove = shutdownOnSignals(server, { signals: ['SIGUSR2'], afterShutdown: () => void (cleanedUp = true) });
    try {
      process.emit('SIGUSR2', 'SIGUSR2');
      await server.shutdown(); // the same drain the signal started
      await sleep(10);
      expect(cleanedUp).toBe(true);
      expect(logs.find('shutdown requested')[0]).toMatchObject({ signal: 'SIGUSR2' });
      expect(process.listenerCount('SIGUSR2')).toBe(listenersBefore);
    } finally {
      remove();
    }
  });
});
