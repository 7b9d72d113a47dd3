// Real embedding and retrieval services as child processes on port 0 (the curator never imports a
// service), tiny CLIP fixture, and a small openclipart pool with planted duplicates.
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OPENCLIPART_ROOT, readClassShards, readOpenClipart, renderSvg } from '@select/datasets';
import { createGrpcClient, createLogger, loadProtoPackage, type GenericServiceClient } from '@select/platform';
import { spawnWithJsonLogs, type JsonLogProcess } from '@select/testing';
import { loadImageNetTaxonomy } from '@select/taxonomy';
import type { Candidate, Decision, GlobalStep, LabelSpace, PoolInfo, StepContext, StepEnvironment } from '../chain/step.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const MODELS_DIR = join(ROOT, 'tools/fixtures/embedding/models');
export const TINY_CLIP = 'tiny-clip';

export interface ImageServices {
  embedding: GenericServiceClient;
  retrieval: GenericServiceClient;
  generation: GenericServiceClient;
  dir: string;
  close(): Promise<void>;
}

async function startService(entry: string, env: NodeJS.ProcessEnv, state: { closing: boolean }): Promise<{ proc: JsonLogProcess; address: string }> {
  const proc = spawnWithJsonLogs(process.execPath, ['--import', 'tsx', join(ROOT, entry)], { cwd: ROOT, env: { ...process.env, ...env, LOG_LEVEL: 'info' } });
  const line = await proc.waitForLog('grpc server listening', 90_000);
  // A service that dies mid-test shows up as UNAVAILABLE in some later call: say here why it died.
  void proc.exited.then((code) => {
    if (!state.closing) console.error(`${entry} exited (${code}) during the test; ${proc.recentOutput()}`);
  });
  return { proc, address: String(line['address']) };
}

export async function startImageServices(): Promise<ImageServices> {
  const dir = await mkdtemp(join(tmpdir(), 'curator-image-'));
  await mkdir(join(dir, 'sd-models'));
  await symlink(join(ROOT, 'tools/fixtures/tiny-sd/model'), join(dir, 'sd-models', 'tiny-sd'));
  const state = { closing: false };
  const [embedding, retrieval, generation] = await Promise.all([
    startService('packages/embedding-service/src/main.ts', {
      EMBEDDING_HOST: '127.0.0.1',
      EMBEDDING_PORT: '0',
      EMBEDDING_MODELS_DIR: MODELS_DIR,
      EMBEDDING_JOBS_DIR: join(dir, 'embedding-jobs'),
      EMBEDDING_PUBLISH_JOB_EVENTS: 'false',
      EMBEDDING_INTRA_OP_THREADS: '1',
    }, state),
    startService('packages/retrieval-service/src/main.ts', { RETRIEVAL_HOST: '127.0.0.1', RETRIEVAL_PORT: '0', RETRIEVAL_DATA_DIR: join(dir, 'retrieval'), RETRIEVAL_THREADS: '1' }, state),
    startService('packages/generation-service/src/main.ts', {
      GENERATION_HOST: '127.0.0.1',
      GENERATION_PORT: '0',
      GENERATION_MODELS_DIR: join(dir, 'sd-models'),
      GENERATION_JOBS_DIR: join(dir, 'generation-jobs'),
      GENERATION_INTRA_OP_THREADS: '1',
      GENERATION_PUBLISH_JOB_EVENTS: 'false',
    }, state),
  ]);
  const embeddingClient = createGrpcClient(loadProtoPackage('select/embedding/v1/embedding.proto'), 'select.embedding.v1.EmbeddingService', embedding.address);
  const retrievalClient = createGrpcClient(loadProtoPackage('select/retrieval/v1/retrieval.proto'), 'select.retrieval.v1.RetrievalService', retrieval.address);
  const generationClient = createGrpcClient(loadProtoPackage('select/generation/v1/generation.proto'), 'select.generation.v1.GenerationService', generation.address);
  return {
    embedding: embeddingClient,
    retrieval: retrievalClient,
    generation: generationClient,
    dir,
    async close() {
      state.closing = true;
      for (const client of [embeddingClient, retrievalClient, generationClient]) client.close();
      for (const p of [embedding.proc, retrieval.proc, generation.proc]) p.child.kill('SIGTERM');
      await Promise.all([embedding.proc.exited, retrieval.proc.exited, generation.proc.exited]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The first `perCategory` SVGs of a few openclipart categories, plus two byte-identical copies (planted duplicates). */
export async function smallOpenClipartPool(dir: string, categories: readonly string[] = ['animals', 'food', 'buildings'], perCategory = 8): Promise<{ root: string; files: string[]; copies: Array<[string, string]> }> {
  const root = join(dir, 'openclipart');
  const files: string[] = [];
  for (const category of categories) {
    let n = 0;
    for await (const record of readOpenClipart({ root: join(OPENCLIPART_ROOT, category), render: false })) {
      if (!record.ok) continue;
      const target = join(root, category, record.sample.sourceId);
      await mkdir(join(target, '..'), { recursive: true });
      await copyFile(record.sample.file!, target);
      files.push(`${category}/${record.sample.sourceId}`);
      if (++n >= perCategory) break;
    }
  }
  const copies: Array<[string, string]> = [];
  for (const original of [files[0]!, files[perCategory]!]) {
    const copy = original.replace(/\.svg$/, '-copy.svg');
    await copyFile(join(root, original), join(root, copy));
    copies.push([original, copy]);
  }
  return { root, files: [...files, ...copies.map(([, c]) => c)].sort(), copies };
}

/** Candidates of a generated shift (pool format `shift`): keyed by sample key, image bytes, no label yet. */
export async function shiftCandidates(dir: string): Promise<Candidate[]> {
  const shards = (await readdir(dir)).filter((f) => /^\d{5}\.tar$/.test(f)).sort().map((f) => join(dir, f));
  const out: Candidate[] = [];
  for await (const record of readClassShards({ shards })) {
    if (!record.ok) continue;
    const s = record.sample;
    out.push({ sourceId: s.key, image: { bytes: s.image.bytes, format: s.image.format } });
  }
  return out;
}

/** Candidates as the curator's openclipart pool reader makes them. */
export async function openClipartCandidates(root: string): Promise<Candidate[]> {
  const out: Candidate[] = [];
  for await (const record of readOpenClipart({ root, render: false })) {
    if (!record.ok) continue;
    out.push({ sourceId: record.sample.sourceId, caption: record.sample.caption, image: { path: record.sample.file!, format: 'svg' }, metadata: { category: record.sample.category } });
  }
  return out;
}

/** A PNG of a pool SVG rendered as the embedding service's openclipart dataset job renders it. */
export async function renderedPng(svgPath: string): Promise<Buffer> {
  return renderSvg(await readFile(svgPath), 256);
}

export async function writePng(path: string, png: Buffer): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, png);
}

export function labelSpace(selectedWnids: readonly string[]): LabelSpace {
  const wnids = loadImageNetTaxonomy().classes.map((c) => c.wnid);
  return { wnids, selected: new Set(selectedWnids.map((w) => wnids.indexOf(w))) };
}

export function environment(services: ImageServices, labels: LabelSpace, poolRoot: string): StepEnvironment {
  const pool: PoolInfo = { format: 'openclipart', uri: poolRoot, name: 'openclipart', labelUris: [], classDescriptionsUri: '', hierarchyUri: '', imagesUri: '' };
  return { logger: createLogger({ service: 'curator-image-test', level: 'silent' }), services: { embedding: services.embedding, retrieval: services.retrieval, generation: services.generation }, labels, pool };
}

export function context(env: StepEnvironment, sideDir: string, seed = 0): StepContext {
  return {
    signal: new AbortController().signal,
    seed,
    logger: env.logger,
    services: env.services,
    labels: env.labels,
    buildId: 'test-build',
    taskId: 'task-0',
    sideDir,
    async loadImage(c: Candidate) {
      if (c.image?.bytes) return c.image.bytes;
      const bytes = await readFile(c.image!.path!);
      c.image = { ...c.image, bytes };
      return bytes;
    },
  };
}

/** Runs a build-wide step over candidates held in memory; returns the dropped decisions. */
export async function runGlobal(step: GlobalStep, candidates: Candidate[], ctx: StepContext): Promise<Decision[]> {
  const dropped: Decision[] = [];
  await step.run(
    async function* () {
      yield* candidates;
    },
    ctx,
    (d) => void dropped.push(d),
  );
  return dropped;
}
