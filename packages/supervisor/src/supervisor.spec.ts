// The supervisor against the real, built services (embedding on the tiny fixture models, retrieval, generation on
// tiny SD, the metrics sink on the shared Kafka and ClickHouse), each a detached process of its own, in a
// temporary data folder on free ports.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadProto } from '@select/contracts';
import { createClickHouse, sql } from '@select/metrics';
import { checkHealth } from '@select/platform';
import { deleteTopicsWithPrefix, holdClickHouseUp } from '@select/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from './process-record.js';
import type { ServiceDefinition } from './service-definition.js';
import { SERVICE_DEFINITIONS } from './service-table.js';
import { repositoryRoot, resolveServicesConfig } from './services-config.js';
import { Supervisor } from './supervisor.js';

const ROOT = repositoryRoot();
const REAL = ['metrics-sink', 'embedding', 'retrieval', 'generation'];
const id = randomBytes(4).toString('hex');
const database = `select_test_supervisor_${id}`;
const prefix = `t-sup-${id}-`;

/** A process that ignores SIGTERM, to prove `down` ends with SIGKILL. */
const STUBBORN_SCRIPT = `process.on('SIGTERM', () => console.log('SIGTERM ignored')); console.log('stubborn started'); setInterval(() => {}, 1000);`;

const definitions: ServiceDefinition[] = [
  ...SERVICE_DEFINITIONS.filter((d) => REAL.includes(d.name)),
  { name: 'unbuilt', description: 'a service whose program does not exist', packageDir: 'no-such-package', envPrefix: 'UNBUILT', defaultPort: 1, health: 'grpc', dependsOn: [] },
  { name: 'stubborn', description: 'ignores SIGTERM', packageDir: 'supervisor', entry: 'PLACEHOLDER', envPrefix: 'STUBBORN', defaultPort: 2, health: 'process', dependsOn: [] },
];

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let dir: string;
let supervisor: Supervisor;
let releaseClickHouse: () => void;
const ports: Record<string, number> = {};

beforeAll(async () => {
  for (const name of REAL) {
    const program = join(ROOT, 'packages', SERVICE_DEFINITIONS.find((d) => d.name === name)!.packageDir, 'dist', 'main.js');
    if (!existsSync(program)) throw new Error(`${program} is not built: run \`npx nx run-many -t build\` before these tests`);
  }
  releaseClickHouse = await holdClickHouseUp();
  dir = mkdtempSync(join(tmpdir(), 'supervisor-'));
  const stubborn = join(dir, 'stubborn.mjs');
  writeFileSync(stubborn, STUBBORN_SCRIPT);
  definitions.find((d) => d.name === 'stubborn')!.entry = stubborn;
  for (const name of REAL) ports[name] = await freePort();
  const config = resolveServicesConfig(
    {
      dataDir: join(dir, 'data'),
      stopTimeoutMs: 15_000,
      kafkaTopicPrefix: prefix,
      env: { CLICKHOUSE_DATABASE: database, METRICS_SINK_GROUP_ID: `supervisor-test-${id}` },
      services: {
        'metrics-sink': { port: ports['metrics-sink'] },
        embedding: { port: ports['embedding'], models: { 'tiny-clip': join(ROOT, 'tools/fixtures/embedding/models/tiny-clip') }, env: { EMBEDDING_PUBLISH_JOB_EVENTS: 'false' } },
        retrieval: { port: ports['retrieval'] },
        generation: {
          port: ports['generation'],
          models: { 'tiny-sd': join(ROOT, 'tools/fixtures/tiny-sd/model') },
          env: { GENERATION_INTRA_OP_THREADS: '1', GENERATION_PUBLISH_JOB_EVENTS: 'false' },
        },
        stubborn: { stopTimeoutMs: 1_000 },
      },
    },
    definitions,
    { root: ROOT, base: dir },
  );
  supervisor = new Supervisor(config, { definitions });
}, 60_000);

afterAll(async () => {
  await supervisor?.down([], { timeoutMs: 5_000 });
  const admin = createClickHouse({ database: 'default' });
  await admin.command(sql`DROP DATABASE IF EXISTS ${sql.id(database)}`);
  await admin.close();
  await deleteTopicsWithPrefix(prefix);
  releaseClickHouse?.();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('Supervisor against the real services', () => {
  it('up starts each built service as its own detached process and waits until its health says SERVING; a second up leaves them alone', async () => {
    const results = await supervisor.up();
    const byName = Object.fromEntries(results.map((r) => [r.instance, r]));
    for (const name of REAL) expect(byName[name], `${name}: ${byName[name]?.detail}`).toMatchObject({ outcome: 'started', port: ports[name] });
    expect(byName['unbuilt']).toMatchObject({ outcome: 'not built', detail: expect.stringContaining('packages/no-such-package/dist/main.js does not exist') });
    expect(byName['stubborn']?.outcome).toBe('started');

    const pids = REAL.map((name) => byName[name]!.pid!);
    expect(new Set(pids).size).toBe(REAL.length);
    expect(pids).not.toContain(process.pid);
    for (const name of REAL) expect(await checkHealth(`127.0.0.1:${ports[name]}`)).toBe('SERVING');

    const status = await supervisor.status();
    for (const name of REAL) {
      expect(status.find((s) => s.instance === name)).toMatchObject({ state: 'healthy', pid: byName[name]!.pid, port: ports[name], version: '0.1.0', detail: 'health SERVING' });
    }
    expect(status.find((s) => s.instance === 'unbuilt')?.state).toBe('not built');

    const again = await supervisor.up();
    for (const name of REAL) expect(again.find((r) => r.instance === name)).toMatchObject({ outcome: 'already running', pid: byName[name]!.pid });
  }, 180_000);

  it('logs: each process writes its own log file, and tail prints its last lines', async () => {
    const embedding = await supervisor.tail('embedding', 50);
    const lines = embedding.trimEnd().split('\n').map((l) => JSON.parse(l) as { service?: string; msg?: string });
    expect(lines.every((l) => l.service === 'embedding-service')).toBe(true);
    expect((await supervisor.tail('retrieval', 50)).split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { service: string }).service)).toContain('retrieval-service');
    expect((await supervisor.tail('embedding', 2)).trimEnd().split('\n')).toHaveLength(2);
    await expect(supervisor.tail('no-such-service')).rejects.toThrow(/no service or process named "no-such-service"/);
  });

  it('a SIGKILLed service is shown dead, and up starts it again', async () => {
    const before = (await supervisor.status(['retrieval']))[0]!;
    process.kill(before.pid!, 'SIGKILL');
    await expect.poll(() => isAlive({ pid: before.pid!, startTicks: null }), { timeout: 10_000 }).toBe(false);

    const dead = (await supervisor.status(['retrieval']))[0]!;
    expect(dead).toMatchObject({ state: 'dead', pid: before.pid, detail: expect.stringContaining('is gone') });

    const [restarted] = await supervisor.up(['retrieval']);
    expect(restarted).toMatchObject({ instance: 'retrieval', outcome: 'restarted' });
    expect(restarted!.pid).not.toBe(before.pid);
    expect((await supervisor.status(['retrieval']))[0]).toMatchObject({ state: 'healthy', pid: restarted!.pid });
  }, 120_000);

  it('down drains: a generation in flight when down begins still completes, then the process exits on its own', async () => {
    const Service = loadProto('generation').select.generation.v1.GenerationService;
    const client = new Service(`127.0.0.1:${ports['generation']}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      textToImage(request: object, options: grpc.CallOptions): grpc.ClientReadableStream<{ image?: { data?: Buffer }; progress?: object }>;
    };
    const pid = (await supervisor.status(['generation']))[0]!.pid!;
    const events: Array<{ image?: { data?: Buffer }; progress?: object }> = [];
    const stream = client.textToImage(
      { prompt: 'A photo of a tench', sampling: { steps: 150, numImages: 4, width: 64, height: 64, seeds: [1] } },
      { deadline: Date.now() + 60_000 },
    );
    const finished = new Promise<void>((resolve, reject) => {
      stream.on('data', (e: { image?: { data?: Buffer }; progress?: object }) => events.push(e));
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    finished.catch(() => undefined); // awaited below; a failure before then must not go unhandled
    await expect.poll(() => events.some((e) => e.progress), { timeout: 30_000 }).toBe(true);

    const [down] = await supervisor.down(['generation']);
    await finished;
    client.close();
    expect(down).toMatchObject({ instance: 'generation', outcome: 'stopped', pid });
    expect(events.filter((e) => e.image).length).toBe(4);
    expect(isAlive({ pid, startTicks: null })).toBe(false);
    expect((await supervisor.status(['generation']))[0]).toMatchObject({ state: 'stopped', pid: undefined });
    expect(await supervisor.tail('generation', 20)).toContain('shutdown requested');
  }, 120_000);

  it('a process whose code was rebuilt after it started: status says so, and up restarts it on the new build', async () => {
    const [before] = await supervisor.status(['stubborn']);
    expect(before).toMatchObject({ state: 'healthy', detail: 'process alive (no health service)' });
    const program = definitions.find((d) => d.name === 'stubborn')!.entry!;
    // the same code written again (as a build restoring it from Nx's cache does): left alone
    const later = Date.now() / 1000 + 60;
    writeFileSync(program, STUBBORN_SCRIPT);
    utimesSync(program, later, later);
    expect((await supervisor.up(['stubborn']))[0]).toMatchObject({ outcome: 'already running', pid: before!.pid });
    // new code
    writeFileSync(program, `${STUBBORN_SCRIPT}\n// rebuilt\n`);
    expect((await supervisor.status(['stubborn']))[0]!.detail).toContain('rebuilt since it started (`select services up` restarts it on the new build)');
    const [up] = await supervisor.up(['stubborn']);
    expect(up).toMatchObject({ instance: 'stubborn', outcome: 'restarted' });
    expect(up!.pid).not.toBe(before!.pid);
    expect(isAlive({ pid: before!.pid!, startTicks: null })).toBe(false);
    // it ignores SIGTERM: stopped the way down stops it, SIGKILL after its stop timeout
    expect(readFileSync(supervisor.logFile('stubborn'), 'utf8')).toContain('SIGTERM ignored');
    expect((await supervisor.status(['stubborn']))[0]).toMatchObject({ state: 'healthy', pid: up!.pid, detail: 'process alive (no health service)' });
    // the real services' builds did not change: left alone
    for (const result of await supervisor.up(['metrics-sink', 'embedding'])) expect(result.outcome, result.instance).toBe('already running');
  }, 60_000);

  it('down sends SIGKILL to a process that ignores SIGTERM once the stop timeout has passed', async () => {
    const [down] = await supervisor.down(['stubborn']);
    expect(down).toMatchObject({ instance: 'stubborn', outcome: 'killed' });
    expect(isAlive({ pid: down!.pid!, startTicks: null })).toBe(false);
    expect(readFileSync(supervisor.logFile('stubborn'), 'utf8')).toContain('SIGTERM ignored');
  }, 30_000);

  it('down stops everything, dependants first, and status then shows every process stopped', async () => {
    const results = await supervisor.down();
    for (const name of ['metrics-sink', 'embedding', 'retrieval']) expect(results.find((r) => r.instance === name)?.outcome).toBe('stopped');
    const status = await supervisor.status();
    for (const name of REAL) expect(status.find((s) => s.instance === name)?.state).toBe('stopped');
  }, 120_000);
});
