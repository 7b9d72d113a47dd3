// AnalyzeShift: the model-free metrics of a shift. Class counts come from the shift's class_counts.json (every
// class of the label space, empty ones included); embedding metrics from the embedding service's dataset output
// (clip-retrieval layout: img_emb/img_emb_<n>.npy, text_emb/text_emb_<n>.npy, rows aligned). Results are
// published as EvaluationResult events (benchmark "shift-analytics") once all are computed.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { evaluatorV1 } from '@select/contracts';
import { NpyReader } from '@select/datasets';
import { sql, type ClickHouse } from '@select/metrics';
import { ServiceError } from '@select/platform';
import type { ImageNetTaxonomy } from '@select/taxonomy';
import { shiftCorrelations } from './metrics/correlation.js';
import { cmmd, contaminationRate, nearDuplicateRate } from './metrics/embedding-analytics.js';
import type { Linalg, Matrix } from './metrics/linalg.js';
import { classCountMetrics, clipScore } from './metrics/shift-analytics.js';
import type { ResultIdentity, ResultRecord, ResultSink } from './results.js';

export const SHIFT_BENCHMARK = 'shift-analytics';
const DEFAULT_MAX_EMBEDDINGS = 20_000;

/** Rows of the numbered .npy files of one clip-retrieval folder, in file-number order, up to `limit`. */
export async function readEmbeddingFolder(dir: string, prefix: string, limit: number): Promise<Matrix | undefined> {
  if (!existsSync(dir)) return undefined;
  const files = (await readdir(dir))
    .map((f) => ({ f, n: new RegExp(`^${prefix}_(\\d+)\\.npy$`).exec(f)?.[1] }))
    .filter((x) => x.n !== undefined)
    .sort((a, b) => Number(a.n) - Number(b.n))
    .map((x) => join(dir, x.f));
  const parts: Float32Array[] = [];
  let rows = 0;
  let cols = 0;
  for (const file of files) {
    if (rows >= limit) break;
    const reader = await NpyReader.open(file);
    try {
      if (cols && reader.dim !== cols) throw ServiceError.failedPrecondition(`${file} holds ${reader.dim}-d rows, the files before it ${cols}-d`);
      cols = reader.dim;
      const take = Math.min(reader.rows, limit - rows);
      parts.push(await reader.readRows(0, take));
      rows += take;
    } finally {
      await reader.close();
    }
  }
  if (files.length === 0) return undefined;
  const data = new Float32Array(rows * cols);
  let at = 0;
  for (const p of parts) {
    data.set(p, at);
    at += p.length;
  }
  return { data, rows, cols };
}

/** Rows of an evaluation set the curator's contamination gate registered (set.json + embeddings.f32). */
export async function readGateSet(dir: string, limit: number): Promise<Matrix | undefined> {
  if (!existsSync(join(dir, 'set.json')) || !existsSync(join(dir, 'embeddings.f32'))) return undefined;
  const info = JSON.parse(await readFile(join(dir, 'set.json'), 'utf8')) as { dimension?: number };
  const bytes = await readFile(join(dir, 'embeddings.f32'));
  const cols = Number(info.dimension);
  if (!Number.isInteger(cols) || cols < 1 || bytes.length % (4 * cols) !== 0) {
    throw ServiceError.failedPrecondition(`${dir}: embeddings.f32 (${bytes.length} bytes) does not hold rows of set.json's dimension ${info.dimension}`);
  }
  const rows = Math.min(limit, bytes.length / (4 * cols));
  const data = new Float32Array(rows * cols);
  new Uint8Array(data.buffer).set(bytes.subarray(0, rows * cols * 4));
  return { data, rows, cols };
}

async function imageEmbeddings(uri: string, limit: number, what: string): Promise<Matrix> {
  const gate = await readGateSet(uri, limit);
  if (gate) return gate;
  const m = await readEmbeddingFolder(join(uri, 'img_emb'), 'img_emb', limit);
  if (!m || m.rows === 0) throw ServiceError.notFound(`${what} ${uri} has no img_emb/img_emb_<n>.npy (the embedding service's dataset output)`);
  return m;
}

/** Samples per class over the label space, from class_counts.json. */
export async function readClassCounts(shiftUri: string, classes: number): Promise<number[]> {
  const file = join(shiftUri, 'class_counts.json');
  let rows: Array<{ class_index: number; count: number }>;
  try {
    rows = JSON.parse(await readFile(file, 'utf8')) as typeof rows;
  } catch (cause) {
    throw ServiceError.notFound(`cannot read ${file}: ${(cause as Error).message} (a shift directory written by the curator holds one)`, { cause });
  }
  const counts = new Array<number>(classes).fill(0);
  for (const r of rows) {
    if (!Number.isInteger(r.class_index) || r.class_index < 0 || r.class_index >= classes) {
      throw ServiceError.failedPrecondition(`${file}: class_index ${r.class_index} is outside the ${classes}-class label space`);
    }
    counts[r.class_index] = r.count;
  }
  return counts;
}

export interface AnalyzeShiftDeps {
  taxonomy: ImageNetTaxonomy;
  results: ResultSink;
  linalg: () => Promise<Linalg>;
  clickhouse: () => ClickHouse;
}

/** Per-class values of one shift, benchmark and metric from the sink's evaluation_class_results view (seeds averaged). */
async function classValues(ch: ClickHouse, shiftId: string, benchmark: string, metric: string): Promise<Map<number, number>> {
  const rows = await ch.query<{ class_index: number | string; value: number | string }>(
    sql`SELECT class_index, avg(value) AS value FROM evaluation_class_results WHERE shift_id = ${shiftId} AND benchmark = ${benchmark} AND metric = ${metric} GROUP BY class_index`,
  );
  return new Map(rows.map((r) => [Number(r.class_index), Number(r.value)]));
}

async function correlationRecords(request: evaluatorV1.AnalyzeShiftRequest__Output, counts: number[], ch: ClickHouse): Promise<ResultRecord[]> {
  const benchmark = request.correlationBenchmark;
  const read = (shift: string, bench: string, metric: string) =>
    classValues(ch, shift, bench, metric).catch((error: Error) => {
      throw ServiceError.unavailable(`per-class results could not be read from ClickHouse: ${error.message.split('\n')[0]}`, { cause: error });
    });
  const accuracy = await read(request.shiftId, benchmark, 'class_accuracy');
  const precision = await read(request.shiftId, benchmark, 'class_precision');
  if (accuracy.size === 0) {
    throw ServiceError.failedPrecondition(`no per-class accuracy of shift ${request.shiftId} on ${benchmark} in ClickHouse: evaluate a model trained on it first`);
  }
  const reference = request.referenceShiftId;
  const referenceAccuracy = reference ? await read(reference, benchmark, 'class_accuracy') : undefined;
  const referenceCounts = reference ? await read(reference, SHIFT_BENCHMARK, 'class_count') : undefined;
  if (reference && referenceAccuracy!.size === 0) throw ServiceError.failedPrecondition(`no per-class accuracy of reference shift ${reference} on ${benchmark} in ClickHouse`);
  const found = shiftCorrelations({
    counts,
    accuracy,
    precision,
    ...(referenceAccuracy ? { referenceAccuracy } : {}),
    ...(referenceCounts && referenceCounts.size > 0 ? { referenceCounts } : {}),
  });
  const records: ResultRecord[] = [];
  for (const [name, c] of Object.entries(found)) {
    const params = { pairs: c.n, ...(reference ? { reference } : {}) };
    records.push({ benchmark: `correlations:${benchmark}`, metric: `${name}_pearson`, value: c.pearson, numSamples: c.n, params });
    records.push({ benchmark: `correlations:${benchmark}`, metric: `${name}_spearman`, value: c.spearman, numSamples: c.n, params });
  }
  return records;
}

export async function analyzeShift(request: evaluatorV1.AnalyzeShiftRequest__Output, deps: AnalyzeShiftDeps): Promise<evaluatorV1.ShiftAnalysis> {
  if (!request.shiftId) throw ServiceError.invalidArgument('shift_id is required');
  if (!request.shiftUri) throw ServiceError.invalidArgument('shift_uri is required (the shift directory)');
  const shiftUri = resolve(request.shiftUri);
  const counts = await readClassCounts(shiftUri, deps.taxonomy.classes.length);
  const m = classCountMetrics(counts);
  const records: ResultRecord[] = [];
  const add = (metric: string, value: number, numSamples: number, params?: Record<string, unknown>): void => {
    records.push({ benchmark: SHIFT_BENCHMARK, metric, value, numSamples, ...(params ? { params } : {}) });
  };
  add('samples', m.samples, m.samples);
  add('coverage', m.coverage, m.samples);
  add('lt500', m.lt500, m.samples, { empty_classes_counted: true });
  add('lt500_nonempty', m.lt500NonEmpty, m.samples, { empty_classes_counted: false });
  add('ls5pct', m.ls5pct, m.samples);
  add('entropy_bits', m.entropyBits, m.samples);
  add('entropy_normalized', m.entropyNormalized, m.samples);
  add('gini', m.gini, m.samples);
  counts.forEach((n, c) => add('class_count', n, n, { class_index: c, class_name: deps.taxonomy.classes[c]!.wnid }));

  const limit = request.maxEmbeddings || DEFAULT_MAX_EMBEDDINGS;
  if (request.embeddingsUri) {
    const uri = resolve(request.embeddingsUri);
    const linalg = await deps.linalg();
    const images = await imageEmbeddings(uri, limit, 'embeddings_uri');
    const dupThreshold = request.nearDuplicateThreshold || 0.95;
    const dup = await nearDuplicateRate(linalg, images, dupThreshold);
    add('near_duplicate_rate', 100 * dup.rate, images.rows, { threshold: dupThreshold });
    const texts = await readEmbeddingFolder(join(uri, 'text_emb'), 'text_emb', limit);
    if (texts && texts.rows === images.rows && texts.cols === images.cols) {
      const score = clipScore(images.data, texts.data, images.cols);
      add('clipscore', score.mean, score.pairs);
    }
    if (request.referenceEmbeddingsUri) {
      const reference = await imageEmbeddings(resolve(request.referenceEmbeddingsUri), limit, 'reference_embeddings_uri');
      add('cmmd', await cmmd(linalg, images, reference), images.rows, { reference: request.referenceEmbeddingsUri, sigma: 10, scale: 1000 });
    }
    const threshold = request.contaminationThreshold || 0.95;
    const sets = [...request.contaminationSets];
    if (request.contaminationRegistry) {
      const registry = resolve(request.contaminationRegistry);
      const names = existsSync(registry) ? (await readdir(registry, { withFileTypes: true })).filter((e) => e.isDirectory() && existsSync(join(registry, e.name, 'set.json'))).map((e) => e.name).sort() : [];
      if (names.length === 0) throw ServiceError.notFound(`contamination_registry ${registry} holds no registered evaluation set (<set>/set.json)`);
      for (const name of names) sets.push({ name, uri: join(registry, name) });
    }
    for (const set of sets) {
      if (!set.name || !set.uri) throw ServiceError.invalidArgument('every contamination set needs a name and a uri');
      const evalEmbeddings = await imageEmbeddings(resolve(set.uri), limit, `contamination set ${set.name}`);
      const c = await contaminationRate(linalg, images, evalEmbeddings, threshold);
      add(`contamination:${set.name}`, 100 * c.rate, images.rows, { threshold, contaminated: c.contaminated });
    }
  } else if (request.referenceEmbeddingsUri || request.contaminationSets.length > 0 || request.contaminationRegistry) {
    throw ServiceError.invalidArgument('CMMD and contamination need the shift’s own embeddings_uri');
  }
  if (request.correlationBenchmark) records.push(...(await correlationRecords(request, counts, deps.clickhouse())));
  else if (request.referenceShiftId) throw ServiceError.invalidArgument('reference_shift_id needs correlation_benchmark (the evaluation set whose per-class results are compared)');
  const identity: ResultIdentity = { evalId: `analyze-${request.shiftId}`, runId: '', shiftId: request.shiftId, modelId: '', seed: 0, kind: 'analyze-shift' };
  await deps.results.publish(identity, records);
  const extra: Record<string, number> = {};
  for (const r of records) if (!r.params || !('class_index' in r.params)) extra[r.metric] = r.value;
  return { shiftId: request.shiftId, coverage: m.coverage, lt500: m.lt500, ls5pct: m.ls5pct, samples: String(m.samples), extra };
}
