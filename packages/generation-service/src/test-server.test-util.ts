// Shared by the service specs: a real server on port 0 over the committed tiny SD export.
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadProto, type generationV1 } from '@select/contracts';
import { createLogger, resolveConfig } from '@select/platform';
import { generationConfigSchema } from './config.js';
import { startGenerationServer, type GenerationServer } from './server.js';

export const TINY_SD_MODEL = fileURLToPath(new URL('../../../tools/fixtures/tiny-sd/model', import.meta.url));
export const TINY_SD_VARIATIONS_MODEL = fileURLToPath(new URL('../../../tools/fixtures/tiny-sd/model-variations', import.meta.url));

export type Client = grpc.Client & Record<string, (...args: never[]) => unknown>;

/** A models directory holding the tiny exports as `tiny-sd` and `tiny-sd-variations`. */
export function tinyModelsDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'generation-models-'));
  symlinkSync(TINY_SD_MODEL, join(dir, 'tiny-sd'));
  symlinkSync(TINY_SD_VARIATIONS_MODEL, join(dir, 'tiny-sd-variations'));
  return dir;
}

export async function startTestServer(overrides: Record<string, unknown> = {}): Promise<GenerationServer> {
  const config = resolveConfig(
    generationConfigSchema,
    { modelsDir: tinyModelsDir(), port: 0, intraOpThreads: 1, publishJobEvents: false, ...overrides },
    {},
  );
  return startGenerationServer(config, { logger: createLogger({ service: 'generation-test', level: 'silent' }) });
}

export function connect(address: string): Client {
  const Service = loadProto('generation').select.generation.v1.GenerationService;
  return new Service(address, grpc.credentials.createInsecure()) as unknown as Client;
}

export function unaryCall<T>(client: Client, method: string, request: object, deadlineMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const fn = client[method] as unknown as (r: object, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: T) => void) => void;
    fn.call(client, request, { deadline: Date.now() + deadlineMs }, (err, value) => (err ? reject(err) : resolve(value)));
  });
}

type Event = generationV1.GenerationEvent__Output;

export function openStream(client: Client, method: string, request: object, options: grpc.CallOptions = {}): grpc.ClientReadableStream<Event> {
  const fn = client[method] as unknown as (r: object, o: grpc.CallOptions) => grpc.ClientReadableStream<Event>;
  return fn.call(client, request, { deadline: Date.now() + 30_000, ...options });
}

/** Collects a server stream; rejects with the call's error. */
export function collect(stream: grpc.ClientReadableStream<Event>): Promise<Event[]> {
  return new Promise((resolve, reject) => {
    const out: Event[] = [];
    stream.on('data', (m: Event) => out.push(m));
    stream.on('error', reject);
    stream.on('end', () => resolve(out));
  });
}
