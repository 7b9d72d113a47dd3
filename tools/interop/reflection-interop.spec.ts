// Server reflection read by clients that are not ours: grpcurl (Go) and Python's grpcio-reflection with a
// descriptor pool and message factory. For every service: list, describe, and one unary and one
// server-streaming call built from reflection alone, with the answers checked. Each service runs as a
// user runs it: its own src/main.ts, configured by environment, on port 0.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createClickHouse, sql } from '@select/metrics';
import { deleteTopicsWithPrefix, spawnWithJsonLogs, testBrokers, type JsonLogProcess } from '@select/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grpcurl, missingClients, python, type Json } from './interop-clients.js';
import { INTEROP_SERVICES, type InteropWorld } from './interop-services.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const HEALTH = 'grpc.health.v1.Health';

const missing = missingClients();
if (missing) throw new Error(`The reflection interop test needs grpcurl and the Python environment: ${missing}`);

const id = randomBytes(4).toString('hex');
const world: InteropWorld = {
  dir: mkdtempSync(join(tmpdir(), 'select-interop-')),
  brokers: testBrokers(),
  topicPrefix: `t-interop-${id}-`,
  database: `select_test_interop_${id}`,
  async startJob(address, method, request) {
    const [status] = await grpcurl.call(address, method, request);
    if (!status) throw new Error(`${method} answered nothing`);
    return status;
  },
};

afterAll(async () => {
  rmSync(world.dir, { recursive: true, force: true });
  const admin = createClickHouse({ database: 'default' });
  try {
    await admin.command(sql`DROP DATABASE IF EXISTS ${sql.id(world.database)}`);
  } finally {
    await admin.close();
  }
  await deleteTopicsWithPrefix(world.topicPrefix, world.brokers);
});

describe.each(INTEROP_SERVICES)('$name over reflection', (entry) => {
  const [service = ''] = entry.services;
  let proc: JsonLogProcess | undefined;
  let address = '';

  beforeAll(async () => {
    proc = spawnWithJsonLogs(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: join(REPO, entry.packageDir),
      env: { ...process.env, LOG_LEVEL: 'info', ...entry.env(world) },
    });
    const listening = await proc.waitForLog('grpc server listening', 90_000);
    address = String(listening['address']);
  }, 120_000);

  afterAll(async () => {
    if (!proc) return;
    proc.child.kill('SIGTERM');
    // How a service stops is not this test's subject (each package tests its own drain); one that does not
    // exit is killed so the run goes on, and said so.
    const exited = await Promise.race([proc.exited.then(() => true), sleep(20_000).then(() => false)]);
    if (!exited) {
      console.warn(`${entry.name} did not exit within 20 s of SIGTERM; sent SIGKILL`);
      proc.child.kill('SIGKILL');
      await proc.exited;
    }
  }, 60_000);

  it('lists its services to grpcurl and to Python', async () => {
    const expected = [...new Set([...entry.services, HEALTH])].sort();
    expect(await grpcurl.list(address)).toEqual(expected);
    expect((await python.list(address)).sort()).toEqual(expected);
  });

  it('describes the service, its file and its imports, and every method with its message types', async () => {
    const described = await python.describe(address, service);
    expect(described.file).toBe(entry.file);
    expect(described.dependencies).toEqual(entry.dependencies);
    const text = await grpcurl.describe(address, service);
    expect(text).toContain(`${service} is a service:`);
    if (entry.describedComment) expect(text).toContain(entry.describedComment);
    for (const method of described.methods) {
      // grpcurl prints each method as `rpc Name ( [stream ].pkg.Input ) returns ( [stream ].pkg.Output );`
      const input = `${method.client_streaming ? 'stream ' : ''}.${method.input.name}`;
      const output = `${method.server_streaming ? 'stream ' : ''}.${method.output.name}`;
      expect(text).toContain(`rpc ${method.name} ( ${input} ) returns ( ${output} );`);
      // Every message a method takes or gives resolves in grpcurl too, imported ones included.
      expect(await grpcurl.describe(address, method.output.name)).toContain(`${method.output.name} is a message:`);
    }
    const unary = described.methods.find((m) => `${service}/${m.name}` === entry.unary.method);
    const stream = described.methods.find((m) => `${service}/${m.name}` === entry.stream.method);
    expect(unary).toMatchObject({ client_streaming: false, server_streaming: false });
    expect(stream).toMatchObject({ client_streaming: false, server_streaming: true });
  }, 60_000);

  it.each([
    ['grpcurl', grpcurl],
    ['Python', python],
  ] as const)('answers a unary call made by %s', async (_client, client) => {
    const request = await entry.unary.request(world, address);
    entry.unary.check(await client.call(address, entry.unary.method, request), world);
  }, 60_000);

  it.each([
    ['grpcurl', grpcurl],
    ['Python', python],
  ] as const)('answers a server-streaming call made by %s', async (_client, client) => {
    const request: Json = await entry.stream.request(world, address);
    const options = entry.stream.maxResponses === undefined ? {} : { maxResponses: entry.stream.maxResponses };
    entry.stream.check(await client.call(address, entry.stream.method, request, options), world);
  }, 120_000);
});
