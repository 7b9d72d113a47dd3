import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ECHO_SERVICE, echoImplementation, echoPackage, type EchoReply } from '../test/fixtures/echo-service.js';
import { healthClient } from '../test/fixtures/grpc-test-clients.js';
import { captureLogs } from '../test/fixtures/log-capture.js';
import { createTestPki, type TestPki } from '../test/fixtures/test-certificates.js';
import {
  createGrpcClient,
  createGrpcServer,
  status,
  unary,
  type GrpcClientOptions,
  type GrpcServer,
  type ServerTlsOptions,
} from './index.js';
import type { Client } from '@grpc/grpc-js';

let pki: TestPki;
const servers: GrpcServer[] = [];
const clients: Client[] = [];

beforeAll(() => {
  pki = createTestPki();
});
afterAll(() => pki.remove());
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => s.shutdown({ graceMs: 0 })));
});

async function startEcho(tls: ServerTlsOptions, authTokens?: string[]): Promise<GrpcServer> {
  const server = createGrpcServer({ logger: captureLogs().logger, tls, ...(authTokens ? { authTokens } : {}) });
  servers.push(server);
  server.addService(echoPackage(), ECHO_SERVICE, echoImplementation);
  await server.start();
  return server;
}

function echo(address: string, options: GrpcClientOptions): Promise<EchoReply> {
  const c = createGrpcClient(echoPackage(), ECHO_SERVICE, address, { defaultDeadlineMs: 3_000, ...options });
  clients.push(c);
  return unary<EchoReply>(c, 'Echo', { message: 'over tls' });
}

describe('TLS', () => {
  it('serves TLS to a client that trusts the CA, and refuses plaintext clients', async () => {
    const server = await startEcho({ cert: pki.serverCert, key: pki.serverKey });
    const address = `localhost:${server.port}`;
    expect((await echo(address, { tls: { ca: pki.caCert } })).message).toBe('over tls');
    await expect(echo(address, {})).rejects.toMatchObject({ code: status.UNAVAILABLE });
  });

  it('refuses a server whose certificate the client does not trust', async () => {
    const server = await startEcho({ cert: pki.serverCert, key: pki.serverKey });
    await expect(echo(`localhost:${server.port}`, { tls: {} })).rejects.toMatchObject({ code: status.UNAVAILABLE });
  });

  it('checks the certificate against serverName when the address is not the name it was issued to', async () => {
    const server = await startEcho({ cert: pki.serverCert, key: pki.serverKey });
    const byIp = `127.0.0.1:${server.port}`; // the certificate names only localhost
    await expect(echo(byIp, { tls: { ca: pki.caCert } })).rejects.toMatchObject({ code: status.UNAVAILABLE });
    expect((await echo(byIp, { tls: { ca: pki.caCert, serverName: 'localhost' } })).message).toBe('over tls');
  });
});

describe('mutual TLS', () => {
  it('accepts a client certificate signed by the client CA (PEM given as buffers)', async () => {
    const server = await startEcho({
      cert: readFileSync(pki.serverCert),
      key: readFileSync(pki.serverKey),
      clientCa: readFileSync(pki.caCert),
    });
    const reply = await echo(`localhost:${server.port}`, {
      tls: { ca: readFileSync(pki.caCert), cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey) },
    });
    expect(reply.message).toBe('over tls');
  });

  it('refuses a client without a certificate, or with one from another CA', async () => {
    const server = await startEcho({ cert: pki.serverCert, key: pki.serverKey, clientCa: pki.caCert });
    const address = `localhost:${server.port}`;
    await expect(echo(address, { tls: { ca: pki.caCert } })).rejects.toMatchObject({ code: status.UNAVAILABLE });
    await expect(
      echo(address, { tls: { ca: pki.caCert, cert: pki.strangerCert, key: pki.strangerKey } }),
    ).rejects.toMatchObject({ code: status.UNAVAILABLE });
  });

  it('combines with bearer tokens, health staying reachable without one', async () => {
    const server = await startEcho({ cert: pki.serverCert, key: pki.serverKey, clientCa: pki.caCert }, ['tok']);
    const tls = { ca: pki.caCert, cert: pki.clientCert, key: pki.clientKey };
    const address = `localhost:${server.port}`;
    await expect(echo(address, { tls })).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    expect((await echo(address, { tls, authToken: 'tok' })).message).toBe('over tls');
    const health = healthClient(address, { tls });
    clients.push(health);
    expect(await unary(health, 'Check', { service: '' })).toEqual({ status: 'SERVING' });
  });
});
