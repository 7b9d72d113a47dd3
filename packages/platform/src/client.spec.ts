import { loadPackageDefinition, type ServiceClientConstructor } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { ECHO_SERVICE, echoImplementation, echoPackage, type EchoReply } from '../test/fixtures/echo-service.js';
import { captureLogs } from '../test/fixtures/log-capture.js';
import { until } from '../test/fixtures/until.js';
import {
  GrpcCallError,
  ServiceError,
  createGrpcClient,
  createGrpcServer,
  status,
  unary,
  type CallContext,
  type GrpcClientOptions,
  type GrpcServer,
} from './index.js';
import type { Client, ClientReadableStream } from '@grpc/grpc-js';
import { collect } from '../test/fixtures/grpc-test-clients.js';

const servers: GrpcServer[] = [];
const clients: Client[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => s.shutdown({ graceMs: 0 })));
});

async function startEcho(implementation: Record<string, unknown> = {}) {
  const logs = captureLogs('echo-test');
  const server = createGrpcServer({ logger: logs.logger });
  servers.push(server);
  server.addService(echoPackage(), ECHO_SERVICE, { ...echoImplementation, ...implementation } as never);
  await server.start();
  return { server, logs };
}

function client(address: string, options: GrpcClientOptions = {}) {
  const c = createGrpcClient(echoPackage(), ECHO_SERVICE, address, options);
  clients.push(c);
  return c;
}

/** A handler that fails with `code` for the first `failures` attempts, counting every attempt. */
function flaky(failures: number, code = status.UNAVAILABLE) {
  const state = { attempts: 0 };
  const handler = (request: { message: string }, ctx: CallContext): EchoReply => {
    state.attempts += 1;
    if (state.attempts <= failures) throw new ServiceError(code, `attempt ${state.attempts} failed`);
    return { message: request.message, requestId: ctx.requestId };
  };
  return { state, handler };
}

const fastRetry = { initialBackoffMs: 10, maxBackoffMs: 50 };

describe('retries', () => {
  it('retries a method listed as idempotent that fails UNAVAILABLE, until it succeeds', async () => {
    const { state, handler } = flaky(2);
    const { server } = await startEcho({ echo: handler });
    const c = client(server.address, { idempotentMethods: ['Echo'], retry: fastRetry });
    const reply = await unary<EchoReply>(c, 'Echo', { message: 'third time' });
    expect(reply.message).toBe('third time');
    expect(state.attempts).toBe(3);
  });

  it('does not retry a method that is not idempotent', async () => {
    const { state, handler } = flaky(2);
    const { server } = await startEcho({ echo: handler });
    const c = client(server.address, { retry: fastRetry });
    const error = await unary(c, 'Echo', { message: 'once' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GrpcCallError);
    expect((error as GrpcCallError).code).toBe(status.UNAVAILABLE);
    expect(state.attempts).toBe(1);
  });

  it('does not retry an idempotent method on a status that is not retryable', async () => {
    const { state, handler } = flaky(2, status.INTERNAL);
    const { server } = await startEcho({ echo: handler });
    const c = client(server.address, { idempotentMethods: ['echo'], retry: fastRetry });
    await expect(unary(c, 'echo', { message: 'x' })).rejects.toMatchObject({ code: status.INTERNAL });
    expect(state.attempts).toBe(1);
  });

  it('retries methods whose proto declares them free of side effects without being told', async () => {
    const { state, handler } = flaky(1);
    const { server } = await startEcho({ lookup: handler });
    const reply = await unary<EchoReply>(client(server.address, { retry: fastRetry }), 'Lookup', { message: 'x' });
    expect(reply.message).toBe('x');
    expect(state.attempts).toBe(2);
  });

  it('gives up after maxAttempts', async () => {
    const { state, handler } = flaky(10);
    const { server } = await startEcho({ echo: handler });
    const c = client(server.address, { idempotentMethods: ['Echo'], retry: { ...fastRetry, maxAttempts: 3 } });
    await expect(unary(c, 'Echo', { message: 'x' })).rejects.toMatchObject({ code: status.UNAVAILABLE });
    expect(state.attempts).toBe(3);
  });

  it('rejects an idempotent method name the service does not have', () => {
    expect(() => createGrpcClient(echoPackage(), ECHO_SERVICE, '127.0.0.1:1', { idempotentMethods: ['Ehco'] })).toThrow(
      /Ehco, which is not a method/,
    );
  });
});

describe('deadlines, cancellation and propagation', () => {
  it('applies the client default deadline to calls made without one', async () => {
    const { server } = await startEcho();
    const c = client(server.address, { defaultDeadlineMs: 150 });
    await expect(unary(c, 'Sleep', { ms: 3_000 })).rejects.toMatchObject({ code: status.DEADLINE_EXCEEDED });
  });

  it('gives no default deadline to a server-streaming call (a watch lasts as long as its job)', async () => {
    const { server } = await startEcho();
    const c = client(server.address, { defaultDeadlineMs: 150 });
    const counted = await collect((c['count'] as (r: unknown) => ClientReadableStream<{ n: number }>)({ to: 5, intervalMs: 100 }));
    expect(counted.map((m) => m.n)).toEqual([1, 2, 3, 4, 5]);
  });

  it('caps a downstream call by the deadline of the call it serves and forwards its request id', async () => {
    let originRemainingMs = Infinity;
    const origin = await startEcho({
      sleep: async (request: { ms: number }, ctx: CallContext) => {
        originRemainingMs = ctx.remainingMs();
        return echoImplementation.sleep(request, ctx);
      },
    });
    const originClient = client(origin.server.address);
    // The relay's handlers pass their context on, as a service calling another service should.
    const relay = await startEcho({
      echo: async (request: unknown, ctx: CallContext) => unary(originClient, 'Echo', request, { context: ctx }),
      sleep: async (request: unknown, ctx: CallContext) => unary(originClient, 'Sleep', request, { context: ctx }),
    });
    const relayClient = client(relay.server.address);

    const reply = await unary<EchoReply>(relayClient, 'Echo', { message: 'x' }, {
      metadata: { 'x-request-id': 'trace-1' },
    });
    expect(reply.requestId).toBe('trace-1');

    const started = Date.now();
    const error = await unary(relayClient, 'Sleep', { ms: 5_000 }, { deadlineMs: 300 }).catch((e: unknown) => e);
    expect((error as GrpcCallError).code).toBe(status.DEADLINE_EXCEEDED);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(originRemainingMs).toBeLessThanOrEqual(300);
  });

  it('cancels a call when its signal fires and rejects with the signal reason', async () => {
    const { server } = await startEcho();
    const controller = new AbortController();
    const pending = unary(client(server.address), 'Sleep', { ms: 5_000 }, { signal: controller.signal });
    await until(() => server.activeCalls === 1);
    const reason = ServiceError.cancelled('stopped by test');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });

  it('refuses to call a streaming method as unary', async () => {
    const c = client('127.0.0.1:1');
    await expect(unary(c, 'Count', { to: 1 })).rejects.toThrow(/Count is not a unary method/);
  });
});

describe('client constructors', () => {
  it('accepts a client class from loadPackageDefinition', async () => {
    const { server } = await startEcho();
    const grpcObject = loadPackageDefinition(echoPackage()) as unknown as {
      select: { testing: { v1: { Echo: ServiceClientConstructor } } };
    };
    const c = createGrpcClient(grpcObject.select.testing.v1.Echo, server.address, { idempotentMethods: ['Echo'] });
    clients.push(c);
    const reply = await unary<EchoReply>(c, 'echo', { message: 'ctor' });
    expect(reply.message).toBe('ctor');
  });
});
