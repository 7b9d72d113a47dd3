import { afterEach, describe, expect, it } from 'vitest';
import { ECHO_SERVICE, echoImplementation, echoPackage } from '../test/fixtures/echo-service.js';
import { captureLogs } from '../test/fixtures/log-capture.js';
import { GrpcCallError, checkHealth, createGrpcServer, status, type GrpcServer } from './index.js';

const servers: GrpcServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.shutdown({ graceMs: 0 })));
});

async function startEcho(): Promise<GrpcServer> {
  const server = createGrpcServer({ logger: captureLogs('health-check-test').logger, port: 0 });
  servers.push(server);
  server.addService(echoPackage(), ECHO_SERVICE, echoImplementation as never);
  await server.start();
  return server;
}

describe('checkHealth (real server on port 0)', () => {
  it('reports the server and each of its services, and follows setServingStatus', async () => {
    const server = await startEcho();
    expect(await checkHealth(server.address)).toBe('SERVING');
    expect(await checkHealth(server.address, { service: ECHO_SERVICE })).toBe('SERVING');
    expect(await checkHealth(server.address, { service: 'no.such.v1.Service' })).toBe('SERVICE_UNKNOWN');

    server.setServingStatus('', 'NOT_SERVING');
    expect(await checkHealth(server.address)).toBe('NOT_SERVING');
  });

  it('rejects with UNAVAILABLE when nothing listens at the address', async () => {
    const server = await startEcho();
    const address = server.address;
    await server.shutdown({ graceMs: 0 });
    const failure = await checkHealth(address, { deadlineMs: 2_000 }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(GrpcCallError);
    expect((failure as GrpcCallError).code).toBe(status.UNAVAILABLE);
  });
});
