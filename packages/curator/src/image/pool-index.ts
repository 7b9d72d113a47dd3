// The pool as a retrieval index, for the retrieval strategies (4 and 5): the embedding service embeds
// the pool with a dataset job (clip-retrieval layout under the work folder) and the retrieval service
// bulk-loads it, vector ids = the pool's source ids. Both jobs are keyed by their request, so another
// worker (or a rerun) preparing the same pool finds them done.
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SVG_RENDER_VERSION } from '@select/datasets';
import { GrpcCallError, ServiceError, status, unary, type GenericServiceClient } from '@select/platform';
import type { PoolInfo, StepEnvironment } from '../chain/step.js';
import { jobProgressText, requireClient, waitForJob, type JobStatus } from './service-calls.js';

/** Curator pool formats the embedding service's dataset jobs read. */
const DATASET_FORMATS: Readonly<Record<string, string>> = { openclipart: 'openclipart', webdataset: 'webdataset', imagefolder: 'imagefolder', parquet: 'parquet' };

export interface PoolIndex {
  index: string;
  dimension: number;
  size: number;
  /** The clip-retrieval folder of the pool's embeddings. */
  embeddingsDir: string;
}

/** Where the image strategies keep dataset-job outputs: the step's `workDir`, else `<tmp>/select-image-strategies`. */
export function workDirOf(params: Readonly<Record<string, unknown>>): string {
  const given = String(params['workDir'] ?? '');
  return resolve(given.length > 0 ? given : join(tmpdir(), 'select-image-strategies'));
}

export function checkPoolFormat(step: string, pool: PoolInfo): string {
  const format = DATASET_FORMATS[pool.format];
  if (format === undefined) {
    throw ServiceError.invalidArgument(`${step}: pools of format ${pool.format} cannot be embedded by the embedding service; use one of ${Object.keys(DATASET_FORMATS).join(', ')}`);
  }
  return format;
}

interface Preparation {
  promise: Promise<PoolIndex>;
  /** The progress hooks of the builds waiting for it (several builds of a process may share one preparation). */
  listeners: Set<(message: string) => void>;
  /** Its last line, for a build that joins it late. */
  latest: { message: string };
}

const prepared = new Map<string, Preparation>();

/** Embeds and indexes the pool once per process (and once per services, through the jobs' keys). */
export function preparePoolIndex(
  env: Pick<StepEnvironment, 'services' | 'pool' | 'poolLimit' | 'logger' | 'progress'>,
  step: string,
  model: string,
  dimension: number,
  workDir: string,
  signal: AbortSignal,
): Promise<PoolIndex> {
  const format = checkPoolFormat(step, env.pool);
  const limit = env.poolLimit ?? 0;
  // An SVG pool's embeddings are of its renders: a new renderer is a new key (a new dataset job and index). A build
  // that reads only the pool's first records indexes only those (another key): the neighbours it finds are its own
  // candidates, and a quick --limit run does not embed the whole pool.
  const identity = [env.pool.uri, format, model, ...(format === 'openclipart' ? [`svg-render-${SVG_RENDER_VERSION}`] : []), ...(limit > 0 ? [`limit-${limit}`] : [])];
  const key = createHash('sha256').update(JSON.stringify(identity)).digest('hex').slice(0, 16);
  let entry = prepared.get(key);
  if (entry === undefined) {
    const listeners = new Set<(message: string) => void>();
    const latest = { message: '' };
    const say = (message: string): void => {
      latest.message = message;
      for (const listener of listeners) listener(message);
    };
    const promise = build(env, step, model, dimension, format, key, limit, join(workDir, `pool-${key}`), signal, say);
    entry = { promise, listeners, latest };
    prepared.set(key, entry);
    // A build that finds it done hears nothing: its last line is news only while it runs.
    promise.then(
      () => (latest.message = ''),
      () => {
        latest.message = '';
        prepared.delete(key);
      },
    );
  }
  const listener = env.progress;
  if (listener !== undefined) {
    const current = entry;
    current.listeners.add(listener);
    if (current.latest.message !== '') listener(current.latest.message);
    current.promise.then(
      () => current.listeners.delete(listener),
      () => current.listeners.delete(listener),
    );
  }
  return entry.promise;
}

async function build(
  env: Pick<StepEnvironment, 'services' | 'pool' | 'logger'>,
  step: string,
  model: string,
  dimension: number,
  format: string,
  key: string,
  limit: number,
  embeddingsDir: string,
  signal: AbortSignal,
  say: (message: string) => void,
): Promise<PoolIndex> {
  const embedding = requireClient(env, 'embedding', step);
  const retrieval = requireClient(env, 'retrieval', step);
  await mkdir(embeddingsDir, { recursive: true });
  env.logger.info({ step, pool: env.pool.uri, model, embeddingsDir }, 'embedding the pool (dataset job)');
  const job = await unary<JobStatus>(
    embedding,
    'StartEmbedDataset',
    { model, inputUri: env.pool.uri, inputFormat: format, outputUri: embeddingsDir, embedImages: true, embedTexts: false, limit: String(limit) },
    { signal, deadlineMs: 60_000 },
  );
  // its lines name the pool, not the step that happened to start this shared preparation
  const what = `embedding the pool ${env.pool.uri}${limit > 0 ? ` (its first ${limit} records)` : ''}`;
  const finished = await waitForJob(embedding, job, `${step}: ${what}`, signal, { onStatus: (status) => say(`${what}: ${jobProgressText(status)}`) });
  const index = `pool-${key}`;
  let existing = await stats(retrieval, index, signal);
  if (existing === undefined) {
    try {
      await unary(retrieval, 'CreateIndex', { name: index, dimension, metric: 'METRIC_COSINE' }, { signal, deadlineMs: 30_000 });
    } catch (error) {
      // Another worker (process) of the build created it between our GetStats and CreateIndex: the
      // index's name is the hash of the same pool and model, so it is the same index; its dimension is
      // checked below and the BulkLoad below is the same job (the retrieval service keys jobs by request).
      if (!(error instanceof GrpcCallError && error.code === status.ALREADY_EXISTS)) throw error;
      env.logger.info({ step, index }, 'the pool index was created by another worker');
    }
    existing = await stats(retrieval, index, signal);
    // The retrieval service answers ALREADY_EXISTS while another worker's CreateIndex is still opening the
    // index, before GetStats and BulkLoad can see it: wait for it to appear (bounded).
    for (let waited = 0; existing === undefined && waited < 30_000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      signal.throwIfAborted();
      existing = await stats(retrieval, index, signal);
    }
    if (existing === undefined) throw ServiceError.unavailable(`${step}: retrieval index ${index} was reported created but did not appear within 30 s`);
  }
  if (existing !== undefined && existing.dimension !== dimension) {
    throw ServiceError.invalidArgument(`${step}: dimension mismatch: the pool embeddings have ${dimension} dimensions, retrieval index ${index} holds ${existing.dimension}`);
  }
  env.logger.info({ step, index }, 'loading the pool embeddings into the retrieval index (BulkLoad)');
  const load = await unary<JobStatus>(retrieval, 'BulkLoad', { index, inputUri: embeddingsDir, embeddings: 'img_emb', idColumn: 'image_path' }, { signal, deadlineMs: 60_000 });
  const loading = `loading the pool embeddings into retrieval index ${index}`;
  say(loading);
  await waitForJob(retrieval, load, `${step}: loading ${embeddingsDir} into ${index}`, signal, { onStatus: (status) => say(`${loading}: ${jobProgressText(status)}`) });
  const after = await stats(retrieval, index, signal);
  const size = Number(after?.size ?? 0);
  if (size === 0) {
    throw ServiceError.invalidArgument(`${step}: the pool ${env.pool.uri} is empty: no image could be embedded (dataset job ${finished.jobId}: ${finished.message})`);
  }
  return { index, dimension, size, embeddingsDir };
}

async function stats(client: GenericServiceClient, index: string, signal: AbortSignal): Promise<{ dimension: number; size: string } | undefined> {
  try {
    return await unary<{ dimension: number; size: string }>(client, 'GetStats', { name: index }, { signal, deadlineMs: 30_000 });
  } catch (error) {
    if (error instanceof GrpcCallError && error.code === status.NOT_FOUND) return undefined;
    throw error;
  }
}

/** k nearest pool images per query (cosine), best first. */
export async function searchPool(
  retrieval: GenericServiceClient,
  index: string,
  queries: readonly Float32Array[],
  k: number,
  exact: boolean,
  signal: AbortSignal,
): Promise<Array<Array<{ poolId: string; similarity: number }>>> {
  const out: Array<Array<{ poolId: string; similarity: number }>> = [];
  for (let start = 0; start < queries.length; start += 512) {
    const slice = queries.slice(start, start + 512);
    const response = await unary<{ results: Array<{ ids: string[]; scores: number[] }> }>(
      retrieval,
      'Search',
      { index, queries: slice.map((q) => ({ vectorF32: Buffer.from(q.buffer, q.byteOffset, q.byteLength) })), k, exact, compact: true },
      { signal, deadlineMs: 300_000 },
    );
    for (const r of response.results) out.push(r.ids.map((id, i) => ({ poolId: id, similarity: r.scores[i]! })));
  }
  return out;
}
