// What the embedding benches (bench.ts, gc-profile.ts, small-requests.ts) share: the JPEGs prepare.py wrote, a service
// started in the bench's process (or in its own, as users run it) with a client of it, and one EmbedImages stream that
// respects back-pressure.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import { loadProto } from '@select/contracts';
import { embeddingConfigSchema, startEmbeddingServer } from '@select/embedding-service';
import { createLogger, resolveConfig } from '@select/platform';
// @ts-expect-error plain ESM module without types
import { ROOT, processCpuSeconds } from '../lib/bench-kit.mjs';

/** Where prepare.py puts the model (models/), the JPEGs (jpegs/) and the captions. */
export const BENCH_CACHE: string = join(ROOT, 'tools/bench/.cache/embedding');

/** The bench's first `count` JPEGs in name order, or all of them; refuses when fewer than `count` are there. */
export function benchJpegs(count?: number): Buffer[] {
  const dir = join(BENCH_CACHE, 'jpegs');
  const files = readdirSync(dir).filter((f) => f.endsWith('.jpg')).sort().slice(0, count);
  if (count !== undefined && files.length < count) throw new Error(`${files.length} JPEGs under ${dir}, ${count} asked: run tools/bench/embedding/prepare.py`);
  return files.map((f) => readFileSync(join(dir, f)));
}

/** A setting a bench asks of the service, and what a build without that option does instead. */
export interface AskedSetting {
  key: string;
  wanted: unknown;
  without: unknown;
}

/** The service's config for `settings` over its defaults (port 0, no job events); refuses a build that lacks an asked option. */
function benchConfig(settings: Record<string, unknown>, asked: AskedSetting[]): Record<string, unknown> {
  const config = resolveConfig(embeddingConfigSchema, { port: 0, publishJobEvents: false, ...settings } as never, {}) as Record<string, unknown>;
  for (const { key, wanted, without } of asked) {
    if (config[key] !== wanted && wanted !== without) {
      throw new Error(`this build of @select/embedding-service has no ${key} option (config says ${String(config[key])}); rebuild it: npx tsc -b packages/embedding-service/tsconfig.lib.json`);
    }
  }
  return config;
}

/**
 * Starts the embedding service in this process on port 0 (no job events) with `settings` over its config defaults,
 * and a client of it. A service built before an option existed ignores its key and behaves as `without`: fine when
 * that is what was asked, refused otherwise (instead of silently measuring something else).
 */
export async function startBenchService(settings: Record<string, unknown>, asked: AskedSetting[] = []) {
  const config = benchConfig(settings, asked);
  const running = await startEmbeddingServer(config as never, { logger: createLogger({ service: 'bench', level: 'warn' }) });
  const client = embeddingClient(running.address);
  return {
    running,
    client,
    async close(): Promise<void> {
      client.close();
      await running.close();
    },
  };
}

/**
 * Starts the embedding service as users run it, in its own process (`node packages/embedding-service/dist/main.js`,
 * the same settings as startBenchService passed as its EMBEDDING_* variables), and a client of it in this process.
 * `cpuSeconds()` is the service process's CPU time so far (every thread; bench-kit's processCpuSeconds).
 */
export async function startBenchServiceProcess(settings: Record<string, unknown>, asked: AskedSetting[] = []) {
  const config = benchConfig(settings, asked);
  // the shell's own EMBEDDING_* variables stay out, as startBenchService ignores them
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('EMBEDDING_')));
  for (const [key, option] of Object.entries(embeddingConfigSchema)) {
    if (config[key] !== undefined) env[option.env] = String(config[key]);
  }
  const child = spawn(process.execPath, [join(ROOT, 'packages/embedding-service/dist/main.js')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // the service logs one JSON line per event on stdout; the first with its address says it is serving
  const address = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const address = line.startsWith('{') ? (JSON.parse(line) as { address?: string; services?: unknown }) : null;
      if (address?.address && address.services) resolve(address.address);
    });
    void exited.then((code) => reject(new Error(`the embedding service process exited (${code}) before serving; its stderr is above`)));
  });
  const client = embeddingClient(address);
  return {
    client,
    cpuSeconds: (): number | undefined => processCpuSeconds(child.pid) as number | undefined,
    async close(): Promise<void> {
      client.close();
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A client of the EmbeddingService at `address` (64 MB messages each way). */
export function embeddingClient(address: string) {
  const Service = loadProto('embedding').select.embedding.v1.EmbeddingService;
  return new Service(address, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': 64 << 20,
    'grpc.max_receive_message_length': 64 << 20,
  });
}

/**
 * One EmbedImages stream of `items` (item ids are their indexes) for `model`; resolves with the answers received,
 * rejects if any item failed. With `into`, each vector lands at row itemId of it (rows of `dimension`).
 */
export function embedImagesStream(client: ReturnType<typeof embeddingClient>, model: string, items: Buffer[], into?: Float32Array, dimension = 512): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const call = client.embedImages();
    let received = 0;
    let failed = 0;
    call.on('data', (r: { itemId: string; embedding?: { vector: number[] }; error?: unknown }) => {
      received++;
      if (r.error || !r.embedding) failed++;
      else into?.set(r.embedding.vector, Number(r.itemId) * dimension);
    });
    call.on('error', reject);
    call.on('end', () => (failed ? reject(new Error(`${failed} items failed`)) : resolve(received)));
    void (async () => {
      for (const [i, image] of items.entries()) {
        if (!call.write({ itemId: String(i), model, image })) await new Promise((r) => call.once('drain', r));
      }
      call.end();
    })();
  });
}
