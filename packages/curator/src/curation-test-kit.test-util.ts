// Shared by the curator's integration tests: a Kafka topic prefix and ClickHouse database of their own,
// the metrics sink as deployed (a child process) on them, the curator on port 0, a gRPC client, and
// small pools in the openclipart layout.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageDefinition } from '@select/contracts';
import { createClickHouse, sql, type ClickHouse } from '@select/metrics';
import { createGrpcClient, createLogger, resolveConfig, unary, type GenericServiceClient } from '@select/platform';
import { deleteTopicsWithPrefix, holdClickHouseUp, spawnWithJsonLogs, testBrokers, type JsonLogProcess } from '@select/testing';
import type { StepRegistry } from './chain/registry.js';
import { curatorConfigSchema, type CuratorConfig } from './config.js';
import { SERVICE_NAME, startCuratorServer, type CuratorServer } from './server.js';

export const BROKERS = testBrokers();
export const CURATOR_DIR = fileURLToPath(new URL('..', import.meta.url));
const SINK_DIR = fileURLToPath(new URL('../../metrics-sink', import.meta.url));
export const silent = createLogger({ service: 'curator-test', level: 'silent' });

export interface CurationKit {
  id: string;
  prefix: string;
  database: string;
  ch: ClickHouse;
  dir: string;
  config(overrides?: Partial<CuratorConfig>): CuratorConfig;
  /** A curator on port 0; `registry` replaces the standard steps (tests add steps of their own). */
  startCurator(overrides?: Partial<CuratorConfig>, options?: { registry?: StepRegistry }): Promise<{ curator: CuratorServer; client: GenericServiceClient }>;
  /**
   * A `select curator worker` process (from source) in this kit's worker group, with `env` added; stopped by
   * cleanup() if it still runs.
   */
  spawnWorker(id: string, env?: Record<string, string>): JsonLogProcess;
  /** Polls `query` until `done(rows)` or 90 s. */
  rowsWhen<T>(query: ReturnType<typeof sql>, done: (rows: T[]) => boolean): Promise<T[]>;
  cleanup(): Promise<void>;
}

export async function startCurationKit(name: string): Promise<CurationKit> {
  const id = randomBytes(4).toString('hex');
  const prefix = `t-cur-${name}-${id}-`;
  const database = `select_test_cur_${name.replace(/-/g, '_')}_${id}`;
  const release = await holdClickHouseUp();
  const ch = createClickHouse({ database });
  const dir = mkdtempSync(join(tmpdir(), `curator-${name}-`));
  const sink: JsonLogProcess = spawnWithJsonLogs(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: SINK_DIR,
    env: {
      ...process.env,
      KAFKA_BROKERS: BROKERS.join(','),
      KAFKA_TOPIC_PREFIX: prefix,
      CLICKHOUSE_DATABASE: database,
      METRICS_SINK_GROUP_ID: `${prefix}sink`,
      METRICS_SINK_PORT: '0',
      METRICS_SINK_RETRY_MAX_MS: '1000',
      METRICS_SINK_SESSION_TIMEOUT_MS: '6000',
      LOG_LEVEL: 'info',
    },
  });
  const curators: Array<{ curator: CuratorServer; client: GenericServiceClient }> = [];
  const workers: JsonLogProcess[] = [];
  const config = (overrides: Partial<CuratorConfig> = {}): CuratorConfig =>
    resolveConfig(
      curatorConfigSchema,
      {
        port: 0,
        dataDir: join(dir, 'data'),
        kafkaBrokers: BROKERS,
        kafkaTopicPrefix: prefix,
        workerGroupId: `${prefix}workers`,
        sessionTimeoutMs: 6000,
        progressIntervalMs: 100,
        ...overrides,
      } as Record<string, unknown>,
      {},
    );
  return {
    id,
    prefix,
    database,
    ch,
    dir,
    config,
    async startCurator(overrides = {}, options = {}) {
      const curator = await startCuratorServer(config(overrides), { logger: silent, ...(options.registry ? { registry: options.registry } : {}) });
      const client = createGrpcClient<GenericServiceClient>(packageDefinition('curation'), SERVICE_NAME, curator.address);
      const entry = { curator, client };
      curators.push(entry);
      return entry;
    },
    spawnWorker(workerId, env = {}) {
      const worker = spawnWithJsonLogs(process.execPath, ['--import', 'tsx', 'src/main.ts', 'worker'], {
        cwd: CURATOR_DIR,
        env: {
          ...process.env,
          KAFKA_BROKERS: BROKERS.join(','),
          CURATOR_KAFKA_TOPIC_PREFIX: prefix,
          CURATOR_WORKER_GROUP: `${prefix}workers`,
          CURATOR_WORKER_SESSION_TIMEOUT_MS: '6000',
          CURATOR_WORKER_ID: workerId,
          LOG_LEVEL: 'info',
          ...env,
        },
      });
      workers.push(worker);
      return worker;
    },
    async rowsWhen<T>(query: ReturnType<typeof sql>, done: (rows: T[]) => boolean): Promise<T[]> {
      let rows: T[] = [];
      const deadline = Date.now() + 90_000;
      while (Date.now() < deadline) {
        rows = await ch.query<T>(query).catch(() => [] as T[]);
        if (done(rows)) return rows;
        await new Promise((r) => setTimeout(r, 300));
      }
      return rows;
    },
    async cleanup() {
      for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
      await Promise.all(workers.map((w) => w.exited));
      for (const { curator, client } of curators) {
        client.close();
        await curator.close().catch(() => undefined);
      }
      sink.child.kill('SIGTERM');
      await sink.exited;
      const admin = createClickHouse({ database: 'default' });
      await admin.command(sql`DROP DATABASE IF EXISTS ${sql.id(database)}`);
      await Promise.all([admin.close(), ch.close()]);
      await deleteTopicsWithPrefix(prefix, BROKERS);
      rmSync(dir, { recursive: true, force: true });
      release();
    },
  };
}

/** Polls GetJob over gRPC until the job is in a terminal state. */
type JobView = { state: string; message: string; done: string; total: string };

/** Polls GetJob until the job ends; `onStatus` sees every status read on the way (its progress messages). */
export async function waitForJob(client: GenericServiceClient, jobId: string, timeoutMs = 120_000, options: { pollMs?: number; onStatus?: (job: JobView) => void } = {}): Promise<JobView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await unary<JobView>(client, 'GetJob', { jobId });
    options.onStatus?.(job);
    if (['JOB_STATE_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED'].includes(job.state)) return job;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${job.state} (${job.message}) after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, options.pollMs ?? 200));
  }
}

export interface SvgItem {
  /** Path under the pool root, e.g. `animals/tench.svg`. */
  path: string;
  title?: string;
  keywords?: string[];
  /** Write bytes that are not an SVG at all. */
  broken?: boolean;
}

/** A pool in openclipart's layout: SVGs whose RDF metadata carries a title and keywords. */
export function writeSvgPool(root: string, items: readonly SvgItem[]): void {
  for (const [i, item] of items.entries()) {
    const file = join(root, item.path);
    mkdirSync(dirname(file), { recursive: true });
    if (item.broken === true) {
      writeFileSync(file, Buffer.from([0x00, 0xff, 0xfe, 0x3c, 0x73, 0x76, 0x67]));
      continue;
    }
    const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
    const title = item.title === undefined ? '' : `<dc:title>${escape(item.title)}</dc:title>`;
    const keywords = (item.keywords ?? []).map((k) => `<rdf:li>${escape(k)}</rdf:li>`).join('');
    const hue = (i * 47) % 360;
    writeFileSync(
      file,
      `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:cc="http://creativecommons.org/ns#" xmlns:dc="http://purl.org/dc/elements/1.1/" width="64" height="48">
<metadata><rdf:RDF><cc:Work>${title}<dc:subject><rdf:Bag>${keywords}</rdf:Bag></dc:subject></cc:Work></rdf:RDF></metadata>
<rect x="4" y="4" width="${20 + (i % 30)}" height="30" fill="hsl(${hue},70%,50%)"/>
</svg>
`,
    );
  }
}

/** A POSIX tar file (ustar) of the given members, as WebDataset shards are. */
export function tarFile(members: ReadonlyArray<{ name: string; data: Buffer | string }>): Buffer {
  const blocks: Buffer[] = [];
  for (const member of members) {
    const data = typeof member.data === 'string' ? Buffer.from(member.data, 'utf8') : member.data;
    const header = Buffer.alloc(512);
    header.write(member.name, 0, 100, 'utf8');
    header.write('0000644\0', 100);
    header.write('0000000\0', 108);
    header.write('0000000\0', 116);
    header.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124);
    header.write('00000000000\0', 136);
    header.write('        ', 148);
    header.write('0', 156);
    header.write('ustar\0', 257);
    header.write('00', 263);
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    blocks.push(header, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}
