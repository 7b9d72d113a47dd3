// The 'evaluate-knn' job: SELECT's SSL kNN. Phases, each checkpointed: (1) the class-balanced bank — read from
// the trainer's bank directory, or built here from the shift's first n_search samples embedded by the embedding
// service; (2) the evaluation set's features from the same encoder; (3) the weighted kNN for every k. An
// interrupted job resumes at the phase it was in (a phase's own work is redone).
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { evaluatorV1 } from '@select/contracts';
import { NpyReader, readClassShards, writeNpy } from '@select/datasets';
import { defaultJobId, type JobContext, type JobKind } from '@select/jobs';
import { ServiceError } from '@select/platform';
import type { ImageEmbedder } from './embedder.js';
import { CLASS_SUBSETS, EVAL_FORMATS, openEvalSet, type EvalSetSpec } from './eval-sets.js';
import type { EvaluatorDeps } from './evaluate-model.js';
import { buildBalancedBank, KNN_DEFAULTS, KnnAccumulator } from './metrics/knn.js';
import { normalizeRows, transpose, type Linalg, type Matrix } from './metrics/linalg.js';
import { writeResultsFile, type ResultIdentity, type ResultRecord } from './results.js';

export const EVALUATE_KNN_KIND = 'evaluate-knn';

export interface EvaluateKnnJobRequest {
  evalId: string;
  runId: string;
  shiftId: string;
  shiftUri: string;
  bankUri: string;
  encoderModel: string;
  perClass: number;
  total: number;
  nSearch: number;
  ks: number[];
  temperature: number;
  seed: number;
  evalSet: EvalSetSpec;
}

interface KnnJobState {
  phase: 'bank' | 'queries' | 'knn';
  bank?: { perClass: number; oversampled: number; empty: number; nudged: number; source: string };
  queries?: { rows: number; failed: number };
}

export function normalizeEvaluateKnn(request: evaluatorV1.KnnRequest__Output): EvaluateKnnJobRequest {
  const set = request.evalSet;
  if (!set || !set.uri || !set.name) throw ServiceError.invalidArgument('eval_set with a name and a uri is required');
  if (!request.shiftUri && !request.bankUri) throw ServiceError.invalidArgument('give shift_uri (bank built here) or bank_uri (a bank the trainer built)');
  if (request.evalId && !/^[A-Za-z0-9._-]{1,128}$/.test(request.evalId)) throw ServiceError.invalidArgument('eval_id may hold letters, digits, ".", "_" and "-" only (at most 128)');
  const format = (set.format || 'imagefolder') as EvalSetSpec['format'];
  if (!EVAL_FORMATS.includes(format) || (format as string) === 'imagenet-c') throw ServiceError.invalidArgument(`eval_set.format must be imagefolder or webdataset`);
  if (!CLASS_SUBSETS.includes(set.classSubset as EvalSetSpec['classSubset']) || set.classSubset === 'objectnet') {
    throw ServiceError.invalidArgument(`eval_set.class_subset ${JSON.stringify(set.classSubset)} is not supported for kNN`);
  }
  const ks = request.k.length > 0 ? [...request.k] : [...KNN_DEFAULTS.ks];
  if (ks.some((k) => k < 1 || k > 10_000)) throw ServiceError.invalidArgument('every k must lie in [1, 10000]');
  const temperature = request.temperature || KNN_DEFAULTS.temperature;
  if (!(temperature > 0)) throw ServiceError.invalidArgument('temperature must be > 0');
  if (!request.perClass && !request.total && !request.bankUri) throw ServiceError.invalidArgument('give per_class (e.g. 5) or total (e.g. 5000) for the bank size');
  return {
    evalId: request.evalId,
    runId: request.runId,
    shiftId: request.shiftId,
    shiftUri: request.shiftUri ? resolve(request.shiftUri) : '',
    bankUri: request.bankUri ? resolve(request.bankUri) : '',
    encoderModel: request.encoderModel,
    perClass: request.perClass,
    total: request.total,
    nSearch: request.nSearch,
    ks,
    temperature,
    seed: request.seed,
    evalSet: {
      name: set.name,
      uri: resolve(set.uri),
      format,
      classSubset: set.classSubset as EvalSetSpec['classSubset'],
      classMappingUri: '',
      preprocessing: 'select',
      maxImages: set.maxImages,
      group: '',
    },
  };
}

async function readMatrix(file: string): Promise<Matrix> {
  const reader = await NpyReader.open(file);
  try {
    return { data: await reader.readRows(0, reader.rows), rows: reader.rows, cols: reader.dim };
  } finally {
    await reader.close();
  }
}

/** Embeds records in batches; returns features and labels of the images the encoder accepted. */
async function embedAll(
  records: AsyncIterable<{ ok: boolean; bytes?: Uint8Array; label?: number }>,
  embedder: ImageEmbedder,
  model: string,
  signal: AbortSignal,
  onBatch: (done: number) => void,
): Promise<{ features: Matrix; labels: Int32Array; failed: number }> {
  const vectors: Float32Array[] = [];
  const labels: number[] = [];
  let failed = 0;
  let batch: Array<{ bytes: Uint8Array; label: number }> = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const outcomes = await embedder.embed(model, batch.map((b) => b.bytes), signal);
    outcomes.forEach((o, i) => {
      if (o.ok) {
        vectors.push(o.vector);
        labels.push(batch[i]!.label);
      } else failed++;
    });
    batch = [];
    onBatch(vectors.length + failed);
  };
  for await (const r of records) {
    signal.throwIfAborted();
    if (!r.ok) {
      failed++;
      continue;
    }
    batch.push({ bytes: r.bytes!, label: r.label! });
    if (batch.length >= 64) await flush();
  }
  await flush();
  const dim = vectors[0]?.length ?? 0;
  const data = new Float32Array(vectors.length * dim);
  vectors.forEach((v, i) => data.set(v, i * dim));
  return { features: { data, rows: vectors.length, cols: dim }, labels: Int32Array.from(labels), failed };
}

async function* shiftRecords(shiftUri: string, classes: readonly string[], nSearch: number, signal: AbortSignal): AsyncGenerator<{ ok: boolean; bytes?: Uint8Array; label?: number }> {
  if (!existsSync(shiftUri)) throw ServiceError.notFound(`shift ${shiftUri} does not exist`);
  const shards = (await readdir(shiftUri)).filter((f) => /^\d+\.tar$/.test(f)).sort().map((f) => join(shiftUri, f));
  if (shards.length === 0) throw ServiceError.failedPrecondition(`shift ${shiftUri} has no shards`);
  let n = 0;
  for await (const record of readClassShards({ shards, classes, signal })) {
    if (nSearch > 0 && n >= nSearch) return;
    n++;
    yield record.ok ? { ok: true, bytes: record.sample.image.bytes, label: record.sample.classIndex } : { ok: false };
  }
}

export function evaluateKnnKind(deps: EvaluatorDeps & { linalg: () => Promise<Linalg> }): JobKind<EvaluateKnnJobRequest, KnnJobState> {
  return {
    kind: EVALUATE_KNN_KIND,
    unit: 'images',
    normalize: (r) => r,
    jobId: (r) => r.evalId || defaultJobId(EVALUATE_KNN_KIND, r),
    outputUri: (_r, jobId) => join(deps.dataDir, 'evaluations', jobId),
    run: (ctx) => runKnn(ctx, deps),
  };
}

async function runKnn(ctx: JobContext<EvaluateKnnJobRequest, KnnJobState>, deps: EvaluatorDeps & { linalg: () => Promise<Linalg> }): Promise<string> {
  const req = ctx.request;
  const out = ctx.outputUri;
  const state: KnnJobState = ctx.resumeState ?? { phase: 'bank' };
  const wnids = deps.taxonomy.classes.map((c) => c.wnid);
  await mkdir(join(out, 'bank'), { recursive: true });
  if (state.phase === 'bank') {
    if (req.bankUri) {
      const features = await readMatrix(join(req.bankUri, 'features.npy'));
      const labelsFile = join(req.bankUri, 'labels.npy');
      const labels = existsSync(labelsFile)
        ? Int32Array.from((await readMatrix(labelsFile)).data)
        : Int32Array.from(JSON.parse(await readFile(join(req.bankUri, 'labels.json'), 'utf8')) as number[]);
      if (labels.length !== features.rows) throw ServiceError.failedPrecondition(`bank ${req.bankUri}: ${features.rows} feature rows but ${labels.length} labels`);
      // a bank the trainer built is already balanced: used as given, only L2-normalised (harmless when it already is)
      if (labels.some((l) => !Number.isInteger(l) || l < 0 || l >= wnids.length)) throw ServiceError.failedPrecondition(`bank ${req.bankUri}: labels must be class indices in [0, ${wnids.length})`);
      normalizeRows(features);
      await writeNpy(join(out, 'bank', 'features.npy'), features.data, { dim: features.cols });
      await writeNpy(join(out, 'bank', 'labels.npy'), Float32Array.from(labels), { dim: 1 });
      const present = new Set(labels).size;
      state.bank = { perClass: Math.round(features.rows / wnids.length), oversampled: 0, empty: wnids.length - present, nudged: 0, source: req.bankUri };
    } else {
      ctx.progress(0, 0, 'embedding the shift for the bank');
      const shift = await embedAll(shiftRecords(req.shiftUri, wnids, req.nSearch, ctx.signal), deps.embedder, req.encoderModel, ctx.signal, (done) =>
        ctx.progress(done, 0, `bank: ${done} shift images embedded`),
      );
      if (shift.features.rows === 0) throw ServiceError.failedPrecondition(`no shift image of ${req.shiftUri} could be embedded (${shift.failed} failed)`);
      const perClass = req.perClass || Math.max(1, Math.floor(req.total / wnids.length));
      const bank = buildBalancedBank(shift.features, shift.labels, wnids.length, perClass, req.seed);
      await writeNpy(join(out, 'bank', 'features.npy'), bank.features.data, { dim: bank.features.cols });
      await writeNpy(join(out, 'bank', 'labels.npy'), Float32Array.from(bank.labels), { dim: 1 });
      state.bank = { perClass, oversampled: bank.oversampledClasses.length, empty: bank.emptyClasses.length, nudged: bank.nudgedDuplicates, source: `embedding:${req.encoderModel}` };
    }
    state.phase = 'queries';
    await ctx.checkpoint(state);
  }
  if (state.phase === 'queries') {
    const opened = await openEvalSet(req.evalSet, deps.taxonomy);
    const index = new Map(wnids.map((w, i) => [w, i]));
    const unknown = opened.classes.filter((c) => !index.has(c));
    if (unknown.length > 0) throw ServiceError.failedPrecondition(`label-space mismatch: ${unknown.length} class folders of ${req.evalSet.name} are not ImageNet-1k wnids (${unknown.slice(0, 3).join(', ')})`);
    async function* records(): AsyncGenerator<{ ok: boolean; bytes?: Uint8Array; label?: number }> {
      for await (const r of opened.records(undefined, ctx.signal)) yield r.ok ? { ok: true, bytes: r.bytes, label: index.get(opened.classes[r.label]!)! } : { ok: false };
    }
    const q = await embedAll(records(), deps.embedder, req.encoderModel, ctx.signal, (done) => ctx.progress(done, 0, `${req.evalSet.name}: ${done} images embedded`));
    if (q.features.rows === 0) throw ServiceError.failedPrecondition(`evaluation set ${req.evalSet.name} has no image the encoder accepted (${q.failed} failed); no result is reported`);
    await writeNpy(join(out, 'queries.npy'), q.features.data, { dim: q.features.cols });
    await writeNpy(join(out, 'query_labels.npy'), Float32Array.from(q.labels), { dim: 1 });
    state.queries = { rows: q.features.rows, failed: q.failed };
    state.phase = 'knn';
    await ctx.checkpoint(state);
  }
  const bank = await readMatrix(join(out, 'bank', 'features.npy'));
  const bankLabels = Int32Array.from((await readMatrix(join(out, 'bank', 'labels.npy'))).data);
  const queries = await readMatrix(join(out, 'queries.npy'));
  const labels = Int32Array.from((await readMatrix(join(out, 'query_labels.npy'))).data);
  if (bank.cols !== queries.cols) throw ServiceError.failedPrecondition(`the bank has ${bank.cols}-d features, the evaluation set ${queries.cols}-d: not the same encoder`);
  const acc = new KnnAccumulator({ ks: req.ks, temperature: req.temperature, classes: wnids.length, bankLabels });
  const linalg = await deps.linalg();
  const neighbours = await linalg.topK(queries, transpose(bank), acc.maxK, { signal: ctx.signal, onBlock: (done) => ctx.progress(done, queries.rows, 'kNN') });
  acc.add(neighbours, labels);
  const benchmark = `knn:${req.evalSet.name}`;
  const params = { temperature: req.temperature, per_class: state.bank!.perClass, bank_source: state.bank!.source, oversampled_classes: state.bank!.oversampled, empty_classes: state.bank!.empty, failed_images: state.queries!.failed };
  const records: ResultRecord[] = acc.scores().flatMap((s) => [
    { benchmark, metric: `knn_top1@${s.k}`, value: s.top1, numSamples: queries.rows, params },
    { benchmark, metric: `knn_top5@${s.k}`, value: s.top5, numSamples: queries.rows, params },
  ]);
  const identity: ResultIdentity = { evalId: ctx.jobId, runId: req.runId, shiftId: req.shiftId, modelId: req.encoderModel || 'default-encoder', seed: req.seed, kind: EVALUATE_KNN_KIND };
  await deps.results.publish(identity, records);
  await writeResultsFile(out, identity, records);
  return acc
    .scores()
    .map((s) => `k=${s.k} top-1 ${s.top1.toFixed(2)}`)
    .join(', ');
}
