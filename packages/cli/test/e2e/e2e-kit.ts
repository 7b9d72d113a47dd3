// The end-to-end tests' deployment: every built service as its own process (the supervisor, exactly as
// `select services up` runs them), on free ports, in a temporary folder, on a Kafka topic prefix and a ClickHouse
// database of their own, plus a small pool in openclipart's layout whose captions give known answers.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createClickHouse, sql, type ClickHouse } from '@select/metrics';
import { SERVICE_DEFINITIONS, Supervisor, repositoryRoot, resolveServicesConfig, type ResolvedServicesConfig } from '@select/supervisor';
import { deleteTopicsWithPrefix, holdClickHouseUp } from '@select/testing';
import { ServiceClient, type JobStatusMessage } from '../../src/benchmark/service-client.js';

export const ROOT = repositoryRoot();
/** The services the end-to-end run needs (generation is not: the chains here are caption chains). */
export const E2E_SERVICES = ['metrics-sink', 'embedding', 'retrieval', 'curator', 'curator-worker', 'trainer', 'evaluator'] as const;

const AREAS = {
  curator: ['curation', 'select.curation.v1.CuratorService'],
  embedding: ['embedding', 'select.embedding.v1.EmbeddingService'],
  retrieval: ['retrieval', 'select.retrieval.v1.RetrievalService'],
  trainer: ['trainer', 'select.trainer.v1.TrainerService'],
  evaluator: ['evaluator', 'select.evaluator.v1.EvaluatorService'],
} as const;

export interface Deployment {
  id: string;
  prefix: string;
  database: string;
  dir: string;
  config: ResolvedServicesConfig;
  /** The same deployment as a `select.services.json` file (`select services|benchmark --config`). */
  configFile: string;
  supervisor: Supervisor;
  ch: ClickHouse;
  client(service: keyof typeof AREAS): ServiceClient;
  /** Polls `query` until `done(rows)` or `timeoutMs` (default 120 s); returns the last rows either way. */
  rowsWhen<T>(query: ReturnType<typeof sql>, done: (rows: T[]) => boolean, timeoutMs?: number): Promise<T[]>;
  cleanup(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The programs the run needs, built (`npx nx run-many -t build` first); the test fails early and says so. */
export function assertBuilt(): void {
  const missing = SERVICE_DEFINITIONS.filter((d) => (E2E_SERVICES as readonly string[]).includes(d.name))
    .map((d) => join(ROOT, 'packages', d.packageDir, d.entry ?? 'dist/main.js'))
    .filter((program) => !existsSync(program));
  if (missing.length > 0) throw new Error(`not built: ${[...new Set(missing)].join(', ')} — run \`npx nx run-many -t build\` first`);
}

/** The services a deployment with `generation: true` runs: the end-to-end set and the generation service. */
export const E2E_SERVICES_WITH_GENERATION = [...E2E_SERVICES, 'generation'] as const;

export async function startDeployment(name: string, options: { workers?: number; generation?: boolean } = {}): Promise<Deployment> {
  assertBuilt();
  const id = randomBytes(4).toString('hex');
  const prefix = `t-e2e-${name}-${id}-`;
  const database = `select_test_e2e_${name.replace(/-/g, '_')}_${id}`;
  const release = await holdClickHouseUp();
  const dir = mkdtempSync(join(tmpdir(), `select-e2e-${name}-`));
  const port = async () => ({ port: await freePort() });
  const raw = {
    dataDir: join(dir, 'services'),
    kafkaTopicPrefix: prefix,
    stopTimeoutMs: 20_000,
    startTimeoutMs: 120_000,
    env: {
      CLICKHOUSE_DATABASE: database,
      METRICS_SINK_GROUP_ID: `${prefix}sink`,
      METRICS_SINK_SESSION_TIMEOUT_MS: '6000',
      METRICS_SINK_RETRY_MAX_MS: '1000',
      CURATOR_WORKER_GROUP: `${prefix}workers`,
      CURATOR_WORKER_SESSION_TIMEOUT_MS: '6000',
      CURATOR_PROGRESS_INTERVAL_MS: '200',
      TRAINER_TORCH_THREADS: '1',
      LOG_LEVEL: 'info',
    },
    services: {
      'metrics-sink': await port(),
      embedding: {
        ...(await port()),
        models: {
          'tiny-clip': join(ROOT, 'tools/fixtures/embedding/models/tiny-clip'),
          'tiny-resnet': join(ROOT, 'tools/fixtures/embedding/models/tiny-resnet'),
          'tiny-sentence': join(ROOT, 'tools/fixtures/embedding/models/tiny-sentence'),
        },
        env: { EMBEDDING_INFERENCE_WORKERS: '1' },
      },
      retrieval: { ...(await port()), env: { RETRIEVAL_THREADS: '1' } },
      generation: options.generation
        ? { ...(await port()), models: { 'tiny-sd': join(ROOT, 'tools/fixtures/tiny-sd/model') }, env: { GENERATION_INTRA_OP_THREADS: '1' } }
        : { enabled: false },
      curator: await port(),
      'curator-worker': { replicas: options.workers ?? 2 },
      trainer: await port(),
      evaluator: await port(),
    },
  };
  const config = resolveServicesConfig(raw, SERVICE_DEFINITIONS, { root: ROOT, base: dir });
  const configFile = join(dir, 'select.services.json');
  writeFileSync(configFile, `${JSON.stringify(raw, null, 2)}\n`);
  const supervisor = new Supervisor(config);
  const ch = createClickHouse({ database });
  const clients = new Map<string, ServiceClient>();
  return {
    id,
    prefix,
    database,
    dir,
    config,
    configFile,
    supervisor,
    ch,
    client(service) {
      let client = clients.get(service);
      if (!client) {
        const [area, serviceName] = AREAS[service];
        client = new ServiceClient(service, `127.0.0.1:${config.services[service]!.port}`, area, serviceName);
        clients.set(service, client);
      }
      return client;
    },
    async rowsWhen<T>(query: ReturnType<typeof sql>, done: (rows: T[]) => boolean, timeoutMs = 120_000): Promise<T[]> {
      let rows: T[] = [];
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        rows = await ch.query<T>(query).catch(() => [] as T[]);
        if (done(rows)) return rows;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      return rows;
    },
    async cleanup() {
      for (const client of clients.values()) client.close();
      await supervisor.down([], { timeoutMs: 10_000 }).catch(() => undefined);
      const admin = createClickHouse({ database: 'default' });
      await admin.command(sql`DROP DATABASE IF EXISTS ${sql.id(database)}`).catch(() => undefined);
      await Promise.all([admin.close(), ch.close()]);
      await deleteTopicsWithPrefix(prefix).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
      release();
    },
  };
}

/** One clip-art file of the test pool and what the caption chains must decide about it. */
export interface PoolItem {
  path: string;
  title: string;
  /** The class the substring step gives it, or undefined when it drops it. */
  wnid: string | undefined;
}

/**
 * `copies` × 10 SVGs in openclipart's layout (title and keywords in RDF metadata): per ten, 4 tench, 2 goldfish
 * (each caption names exactly one synset: kept by substring matching), 2 naming two synsets (dropped: "tench and
 * goldfish", and "orange goldfish" — orange is an ImageNet class too) and 2 naming none (dropped: no lemma).
 */
export function writePool(root: string, copies: number): PoolItem[] {
  const items: PoolItem[] = [];
  const kinds: Array<[string, string | undefined]> = [
    ['a tench in a lake', 'n01440764'],
    ['tench', 'n01440764'],
    ['my pet tench', 'n01440764'],
    ['big tench', 'n01440764'],
    ['goldfish', 'n01443537'],
    ['goldfish in a bowl', 'n01443537'],
    ['orange goldfish', undefined], // orange (n07747607) is a class too: several synsets
    ['tench and goldfish', undefined],
    ['abstract shape', undefined],
    ['red circle', undefined],
  ];
  for (let copy = 0; copy < copies; copy++) {
    for (const [k, [title, wnid]] of kinds.entries()) {
      const path = `clipart/set-${String(copy).padStart(3, '0')}/item-${k}.svg`;
      const file = join(root, path);
      mkdirSync(dirname(file), { recursive: true });
      const hue = (copy * 37 + k * 71) % 360;
      writeFileSync(
        file,
        `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:cc="http://creativecommons.org/ns#" xmlns:dc="http://purl.org/dc/elements/1.1/" width="96" height="72">
<metadata><rdf:RDF><cc:Work><dc:title>${title}</dc:title><dc:subject><rdf:Bag><rdf:li>clipart</rdf:li></rdf:Bag></dc:subject></cc:Work></rdf:RDF></metadata>
<rect x="${4 + (copy % 20)}" y="6" width="${30 + k * 5}" height="${20 + (copy % 30)}" fill="hsl(${hue},70%,50%)"/>
<circle cx="60" cy="40" r="${6 + k}" fill="hsl(${(hue + 180) % 360},60%,40%)"/>
</svg>
`,
      );
      items.push({ path, title, wnid });
    }
  }
  return items;
}

/** A build request of the curator for the test pool. */
export function buildRequest(shiftId: string, root: string, outputUri: string, steps: Array<{ name: string; params?: object }>, taskSize: number): object {
  return {
    shiftName: shiftId,
    shiftId,
    pool: { uri: root, format: 'openclipart', name: 'e2e-clipart' },
    outputUri,
    steps: steps.map((s) => ({ name: s.name, paramsJson: JSON.stringify(s.params ?? {}) })),
    taskSize,
    seed: 0,
    gateOverrideReason: 'end-to-end test of the caption chains: no evaluation set is registered',
  };
}

/** The shift as written: manifest.jsonl's entries and the split size of _info.json. */
export function readShiftFiles(dir: string): { entries: Array<{ key: string; source_id: string; wnid: string }>; infoSamples: number } {
  const lines = readFileSync(join(dir, 'manifest.jsonl'), 'utf8').trim().split('\n').filter(Boolean);
  const entries = lines.map((l) => JSON.parse(l) as { key: string; source_id: string; wnid: string });
  const info = JSON.parse(readFileSync(join(dir, '_info.json'), 'utf8')) as { splits: { train: { num_samples: number } } };
  return { entries, infoSamples: info.splits.train.num_samples };
}

export async function runJob(client: ServiceClient, start: () => Promise<JobStatusMessage>): Promise<JobStatusMessage> {
  const started = await start();
  return client.waitForJob(started.jobId, () => undefined);
}
