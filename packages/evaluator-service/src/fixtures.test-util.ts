// Test fixtures of the evaluator: evaluation sets of solid-colour images that the tiny classifier
// (test/fixtures/tiny-classifier, tools/evaluator/make_tiny_classifier.py) classifies by colour, a client, and the
// embedding service as a child process on its committed tiny models.
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as grpc from '@grpc/grpc-js';
import { packageDefinition } from '@select/contracts';
import { createEventConsumer, type ReceivedEvent } from '@select/events';
import { createGrpcClient, unary } from '@select/platform';
import { spawnWithJsonLogs, testBrokers, type JsonLogProcess } from '@select/testing';
import sharp from 'sharp';
import { SERVICE_NAME } from './server.js';

export const FIXTURES = fileURLToPath(new URL('../test/fixtures/', import.meta.url));
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const TINY_CLASSIFIER = join(FIXTURES, 'tiny-classifier');
export const TINY_CLASSIFIER_7 = join(FIXTURES, 'tiny-classifier-7');

/** tench, goldfish, great white shark: outputs 0, 1, 2 of the tiny classifier (red, green, blue). */
export const WNIDS = ['n01440764', 'n01443537', 'n01484850'] as const;
export const COLORS = { red: [220, 20, 20], green: [20, 220, 20], blue: [20, 20, 220] } as const;

export async function solidImage(color: readonly number[], width = 40, height = 32, format: 'png' | 'jpeg' = 'png'): Promise<Buffer> {
  const img = sharp({ create: { width, height, channels: 3, background: { r: color[0]!, g: color[1]!, b: color[2]! } } });
  return format === 'png' ? img.png().toBuffer() : img.jpeg({ quality: 95 }).toBuffer();
}

/**
 * ImageFolder of `spec[wnid] = colours`, plus raw files `extra[wnid/name] = bytes` (corrupt images).
 * Returns the root.
 */
export async function writeImageFolder(root: string, spec: Record<string, Array<keyof typeof COLORS>>, extra: Record<string, Buffer> = {}): Promise<string> {
  for (const [wnid, colors] of Object.entries(spec)) {
    await mkdir(join(root, wnid), { recursive: true });
    for (const [i, color] of colors.entries()) await writeFile(join(root, wnid, `${String(i).padStart(4, '0')}.png`), await solidImage(COLORS[color], 40 + i, 32));
  }
  for (const [path, bytes] of Object.entries(extra)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), bytes);
  }
  return root;
}

export type Client = grpc.Client;

export function connect(address: string): Client {
  return createGrpcClient(packageDefinition('evaluator'), SERVICE_NAME, address, { defaultDeadlineMs: 0 });
}

export function call<T>(client: Client, method: string, request: object, deadlineMs = 30_000): Promise<T> {
  return unary<T>(client, method, request, { deadlineMs });
}

/** Every event on the prefix's evaluations topic, read from the beginning until `until` holds or 20 s pass. */
export async function readEvaluationEvents(prefix: string, until: (events: ReceivedEvent[]) => boolean): Promise<ReceivedEvent[]> {
  const events: ReceivedEvent[] = [];
  const consumer = createEventConsumer({
    brokers: testBrokers(),
    clientId: 'evaluator-test',
    groupId: `g-${randomUUID()}`,
    topicPrefix: prefix,
    topics: ['evaluations'],
    fromBeginning: true,
    handleBatch: async (batch) => {
      events.push(...batch);
    },
  });
  await consumer.start();
  const deadline = Date.now() + 20_000;
  while (!until(events) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  await consumer.stop();
  return events;
}

export interface ServiceProcess {
  address: string;
  process: JsonLogProcess;
  stop(): Promise<void>;
}

/** The real embedding service on its committed tiny models, as its own process. */
export function startEmbeddingService(): Promise<ServiceProcess> {
  return startServiceProcess('embedding-service', { EMBEDDING_MODELS_DIR: join(REPO, 'tools/fixtures/embedding/models'), EMBEDDING_PORT: '0', EMBEDDING_HOST: '127.0.0.1', EMBEDDING_PUBLISH_JOB_EVENTS: 'false' }, 'embedding service listening');
}

/** Another service of the platform as its own process (`packages/<name>/src/main.ts`): services never import each other. */
export async function startServiceProcess(name: string, env: Record<string, string>, readyLog: string): Promise<ServiceProcess> {
  const proc = spawnWithJsonLogs(process.execPath, ['--import', 'tsx', join(REPO, 'packages', name, 'src/main.ts')], {
    cwd: REPO,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
  });
  const line = await proc.waitForLog(readyLog, 120_000);
  return {
    address: String(line['address']),
    process: proc,
    async stop() {
      proc.child.kill('SIGTERM');
      await proc.exited;
    },
  };
}
