import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import {
  GrpcCallError,
  createGrpcClient,
  createLogger,
  loadProtoPackage,
  resolveConfig,
  statusName,
  type GenericServiceClient,
  type Logger,
} from '@select/platform';
import { retrievalConfigSchema, type RetrievalConfig } from './config.js';
import { startRetrievalServer, type RetrievalServer } from './server.js';

/** A logger that keeps its lines, so tests stay quiet and can assert on what was logged. */
export function quietLogger(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return {
    logger: createLogger({ service: 'retrieval-test', level: 'info', destination }),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

export async function tempDir(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A real server on 127.0.0.1, port 0, over `dataDir`. */
export async function startTestServer(
  dataDir: string,
  overrides: Partial<RetrievalConfig> = {},
): Promise<RetrievalServer & { logs: () => Record<string, unknown>[] }> {
  const config = resolveConfig(retrievalConfigSchema, { dataDir, host: '127.0.0.1', port: 0, threads: 2, publishJobEvents: false, ...overrides }, {});
  const { logger, lines } = quietLogger();
  const running = await startRetrievalServer(config, { logger });
  return Object.assign(running, { logs: lines });
}

export function healthClient(address: string): GenericServiceClient {
  return createGrpcClient(loadProtoPackage(healthProtoPath), 'grpc.health.v1.Health', address);
}

/** The gRPC status name a call failed with. */
export async function statusOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (error) {
    if (error instanceof GrpcCallError) return statusName(error.code);
    throw error;
  }
  return 'OK';
}

/** Reproducible values in [0, 1): the fractional part of a scaled sine of a counter started at `seed`. */
function sineNoise(seed: number): () => number {
  let i = seed * 7919;
  return () => {
    const x = Math.sin(++i * 12.9898 + 78.233) * 43758.5453;
    return x - Math.floor(x);
  };
}

/** n vectors of dimension d around a few pseudo-random centres. */
export function clustered(n: number, d: number, seed = 1, clusters = 10): Float32Array[] {
  const next = sineNoise(seed);
  const centres = Array.from({ length: clusters }, () => Float32Array.from({ length: d }, () => next() * 2 - 1));
  return Array.from({ length: n }, () => {
    const c = centres[Math.floor(next() * clusters)]!;
    return Float32Array.from(c, (x) => x + (next() - 0.5) * 0.4);
  });
}
