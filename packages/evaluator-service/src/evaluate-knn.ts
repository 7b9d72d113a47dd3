// The 'evaluate-knn' job: SELECT's SSL kNN. Phases, each checkpointed: (1) the class-balanced bank — read from
// the trainer's bank directory, found in the retrieval service (`retrieval://<index>`, the trainer's artifact_uri),
// or built here from the shift's first n_search samples embedded by the embedding service; (2) the evaluation
// set's features from the same encoder; (3) the weighted kNN for every k (a retrieval bank is searched there). An
// interrupted job resumes where it was: an embedding phase after its last part file (EVALUATOR_EMBED_PART_ROWS rows), then the rest.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { evaluatorV1 } from '@select/contracts';
import { NpyReader, readClassShards, writeNpy, type Cursor } from '@select/datasets';
import { defaultJobId, type JobContext, type JobKind } from '@select/jobs';
import { ServiceError } from '@select/platform';
import type { ImageEmbedder } from './embedder.js';
import { CLASS_SUBSETS, EVAL_FORMATS, openEvalSet, type EvalSetSpec } from './eval-sets.js';
import type { EvaluatorDeps } from './evaluate-model.js';
import { buildBalancedBank, KNN_DEFAULTS, KnnAccumulator } from './metrics/knn.js';
import { normalizeRows, transpose, type Linalg, type Matrix, type TopKResult } from './metrics/linalg.js';
import { dimensionMismatch, retrievalBankIndex, searchRetrievalBank, type RetrievalBank } from './retrieval-bank.js';
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
  /** The embedding phase in progress (bank from the shift, or the evaluation set). */
  embedding?: EmbedProgress;
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
    // retrieval://<index> is kept verbatim (its name is checked here); anything else is a directory
    bankUri: request.bankUri ? (retrievalBankIndex(request.bankUri) !== undefined ? request.bankUri : resolve(request.bankUri)) : '',
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

/**
 * What can be known of a retrieval:// bank before the job starts, so the call itself fails with the right status:
 * FAILED_PRECONDITION without a retrieval service, NOT_FOUND without the index, INVALID_ARGUMENT when the embedding
 * service says the encoder's features have another dimension than the bank's vectors.
 */
export async function checkRetrievalBank(request: EvaluateKnnJobRequest, deps: Pick<KnnDeps, 'retrievalBank' | 'embedder'>): Promise<void> {
  const index = retrievalBankIndex(request.bankUri);
  if (index === undefined) return;
  const info = await deps.retrievalBank.describe(index);
  const dimension = await deps.embedder.dimension?.(request.encoderModel);
  if (dimension !== undefined && dimension !== info.dimension) throw dimensionMismatch(info, dimension, request.encoderModel);
}

async function readMatrix(file: string): Promise<Matrix> {
  const reader = await NpyReader.open(file);
  try {
    return { data: await reader.readRows(0, reader.rows), rows: reader.rows, cols: reader.dim };
  } finally {
    await reader.close();
  }
}

/** Progress of an embedding phase, checkpointed after each part file is written. */
interface EmbedProgress {
  cursor: Cursor | undefined;
  /** Records read so far (kNN's n_search counts them). */
  read: number;
  parts: number;
  rows: number;
  failed: number;
}

type EmbedRecord = { ok: boolean; bytes?: Uint8Array; label?: number; cursor: Cursor };

/**
 * Embeds records in batches of 64 into part files of `partRows` rows (`<dir>/<n>.features.npy` + `.labels.npy`);
 * after each part the reader's cursor is checkpointed, so an interrupted phase continues after its last part.
 * Returns every part's rows.
 */
async function embedInParts(
  records: (resumeFrom: Cursor | undefined, read: number) => AsyncIterable<EmbedRecord>,
  options: {
    dir: string;
    embedder: ImageEmbedder;
    model: string;
    signal: AbortSignal;
    partRows: number;
    resume: EmbedProgress | undefined;
    onPart: (progress: EmbedProgress) => Promise<void>;
    onBatch: (done: number) => void;
  },
): Promise<{ features: Matrix; labels: Int32Array; failed: number }> {
  await mkdir(options.dir, { recursive: true });
  const progress: EmbedProgress = options.resume ? { ...options.resume } : { cursor: undefined, read: 0, parts: 0, rows: 0, failed: 0 };
  let vectors: Float32Array[] = [];
  let labels: number[] = [];
  let batch: Array<{ bytes: Uint8Array; label: number }> = [];
  let lastCursor = progress.cursor;
  let read = progress.read;
  let failed = progress.failed;
  const writePart = async (): Promise<void> => {
    if (vectors.length === 0 && failed === progress.failed) return;
    const dim = vectors[0]?.length ?? 1;
    const data = new Float32Array(vectors.length * dim);
    vectors.forEach((v, i) => data.set(v, i * dim));
    const base = join(options.dir, String(progress.parts));
    await writeNpy(`${base}.features.npy`, data, { dim });
    await writeNpy(`${base}.labels.npy`, Float32Array.from(labels), { dim: 1 });
    progress.parts++;
    progress.rows += vectors.length;
    progress.cursor = lastCursor;
    progress.read = read;
    progress.failed = failed;
    vectors = [];
    labels = [];
    await options.onPart({ ...progress });
  };
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const outcomes = await options.embedder.embed(options.model, batch.map((b) => b.bytes), options.signal);
    outcomes.forEach((o, i) => {
      if (o.ok) {
        vectors.push(o.vector);
        labels.push(batch[i]!.label);
      } else failed++;
    });
    batch = [];
    options.onBatch(progress.rows + vectors.length + failed);
    if (vectors.length >= options.partRows) await writePart();
  };
  for await (const r of records(progress.cursor, read)) {
    options.signal.throwIfAborted();
    read++;
    lastCursor = r.cursor;
    if (!r.ok) failed++;
    else batch.push({ bytes: r.bytes!, label: r.label! });
    if (batch.length >= Math.min(64, options.partRows)) await flush();
  }
  await flush();
  await writePart();
  const parts: Matrix[] = [];
  const partLabels: Float32Array[] = [];
  for (let n = 0; n < progress.parts; n++) {
    const base = join(options.dir, String(n));
    const m = await readMatrix(`${base}.features.npy`);
    if (m.data.length > 0) parts.push(m);
    partLabels.push((await readMatrix(`${base}.labels.npy`)).data);
  }
  const cols = parts[0]?.cols ?? 0;
  const rows = parts.reduce((a, m) => a + m.rows, 0);
  const data = new Float32Array(rows * cols);
  let at = 0;
  for (const m of parts) {
    if (m.cols !== cols) throw ServiceError.failedPrecondition(`the encoder returned ${m.cols}-d and ${cols}-d features in one phase`);
    data.set(m.data, at);
    at += m.data.length;
  }
  const allLabels = new Int32Array(rows);
  let li = 0;
  for (const l of partLabels) for (const v of l) allLabels[li++] = v;
  return { features: { data, rows, cols }, labels: allLabels, failed };
}

function shiftRecords(shiftUri: string, classes: readonly string[], nSearch: number, signal: AbortSignal) {
  return async function* (resumeFrom: Cursor | undefined, read: number): AsyncGenerator<EmbedRecord> {
    if (!existsSync(shiftUri)) throw ServiceError.notFound(`shift ${shiftUri} does not exist`);
    const shards = (await readdir(shiftUri)).filter((f) => /^\d+\.tar$/.test(f)).sort().map((f) => join(shiftUri, f));
    if (shards.length === 0) throw ServiceError.failedPrecondition(`shift ${shiftUri} has no shards`);
    let n = read;
    for await (const record of readClassShards({ shards, classes, signal, ...(resumeFrom ? { resumeFrom } : {}) })) {
      if (nSearch > 0 && n >= nSearch) return;
      n++;
      yield record.ok ? { ok: true, bytes: record.sample.image.bytes, label: record.sample.classIndex, cursor: record.cursor } : { ok: false, cursor: record.cursor };
    }
  };
}

export type KnnDeps = EvaluatorDeps & { linalg: () => Promise<Linalg>; retrievalBank: RetrievalBank };

export function evaluateKnnKind(deps: KnnDeps): JobKind<EvaluateKnnJobRequest, KnnJobState> {
  return {
    kind: EVALUATE_KNN_KIND,
    unit: 'images',
    normalize: (r) => r,
    jobId: (r) => r.evalId || defaultJobId(EVALUATE_KNN_KIND, r),
    outputUri: (_r, jobId) => join(deps.dataDir, 'evaluations', jobId),
    run: (ctx) => runKnn(ctx, deps),
  };
}

/**
 * The file bank's labels as indices of the label space: the trainer's `bank.json` lists the shift's classes, which
 * its labels index (a shift of fewer classes than ImageNet-1k); without it the labels are ImageNet-1k indices.
 */
async function bankLabelsInLabelSpace(bankUri: string, labels: Int32Array, wnids: readonly string[]): Promise<Int32Array> {
  const described = join(bankUri, 'bank.json');
  if (!existsSync(described)) return labels;
  const classes = (JSON.parse(await readFile(described, 'utf8')) as { classes?: unknown }).classes;
  if (!Array.isArray(classes)) return labels;
  const index = new Map(wnids.map((w, i) => [w, i]));
  return labels.map((l) => {
    const mapped = index.get(String(classes[l]));
    if (mapped === undefined) throw ServiceError.failedPrecondition(`bank ${bankUri}: label ${l} is class ${JSON.stringify(classes[l])} of bank.json, not an ImageNet-1k wnid`);
    return mapped;
  });
}

async function runKnn(ctx: JobContext<EvaluateKnnJobRequest, KnnJobState>, deps: KnnDeps): Promise<string> {
  const req = ctx.request;
  const out = ctx.outputUri;
  const state: KnnJobState = ctx.resumeState ?? { phase: 'bank' };
  const wnids = deps.taxonomy.classes.map((c) => c.wnid);
  const bankIndex = retrievalBankIndex(req.bankUri);
  // a retrieval bank stays in the retrieval service; the others are kept in the job's folder
  if (bankIndex === undefined) await mkdir(join(out, 'bank'), { recursive: true });
  else await mkdir(out, { recursive: true });
  if (state.phase === 'bank') {
    if (bankIndex !== undefined) {
      // searched in the kNN phase; here only checked to exist and to be a cosine bank
      const info = await deps.retrievalBank.describe(bankIndex, ctx.signal);
      state.bank = { perClass: Math.round(info.size / wnids.length), oversampled: 0, empty: 0, nudged: 0, source: req.bankUri };
    } else if (req.bankUri) {
      const features = await readMatrix(join(req.bankUri, 'features.npy'));
      const labelsFile = join(req.bankUri, 'labels.npy');
      const given = existsSync(labelsFile)
        ? Int32Array.from((await readMatrix(labelsFile)).data)
        : Int32Array.from(JSON.parse(await readFile(join(req.bankUri, 'labels.json'), 'utf8')) as number[]);
      if (given.length !== features.rows) throw ServiceError.failedPrecondition(`bank ${req.bankUri}: ${features.rows} feature rows but ${given.length} labels`);
      // a bank the trainer built is already balanced: used as given, only L2-normalised (harmless when it already is)
      if (given.some((l) => !Number.isInteger(l) || l < 0 || l >= wnids.length)) throw ServiceError.failedPrecondition(`bank ${req.bankUri}: labels must be class indices in [0, ${wnids.length})`);
      const labels = await bankLabelsInLabelSpace(req.bankUri, given, wnids);
      normalizeRows(features);
      await writeNpy(join(out, 'bank', 'features.npy'), features.data, { dim: features.cols });
      await writeNpy(join(out, 'bank', 'labels.npy'), Float32Array.from(labels), { dim: 1 });
      const present = new Set(labels).size;
      state.bank = { perClass: Math.round(features.rows / wnids.length), oversampled: 0, empty: wnids.length - present, nudged: 0, source: req.bankUri };
    } else {
      ctx.progress(0, 0, 'embedding the shift for the bank');
      const shift = await embedInParts(shiftRecords(req.shiftUri, wnids, req.nSearch, ctx.signal), {
        dir: join(out, 'shift-features'),
        embedder: deps.embedder,
        model: req.encoderModel,
        signal: ctx.signal,
        partRows: deps.embedPartRows,
        resume: state.embedding,
        onPart: (progress) => ctx.checkpoint({ ...state, embedding: progress }),
        onBatch: (done) => ctx.progress(done, req.nSearch, `bank: ${done} shift images embedded`),
      });
      if (shift.features.rows === 0) throw ServiceError.failedPrecondition(`no shift image of ${req.shiftUri} could be embedded (${shift.failed} failed)`);
      const perClass = req.perClass || Math.max(1, Math.floor(req.total / wnids.length));
      const bank = buildBalancedBank(shift.features, shift.labels, wnids.length, perClass, req.seed);
      await writeNpy(join(out, 'bank', 'features.npy'), bank.features.data, { dim: bank.features.cols });
      await writeNpy(join(out, 'bank', 'labels.npy'), Float32Array.from(bank.labels), { dim: 1 });
      state.bank = { perClass, oversampled: bank.oversampledClasses.length, empty: bank.emptyClasses.length, nudged: bank.nudgedDuplicates, source: `embedding:${req.encoderModel}` };
    }
    state.phase = 'queries';
    delete state.embedding;
    await ctx.checkpoint(state);
  }
  if (state.phase === 'queries') {
    const opened = await openEvalSet(req.evalSet, deps.taxonomy);
    const index = new Map(wnids.map((w, i) => [w, i]));
    const unknown = opened.classes.filter((c) => !index.has(c));
    if (unknown.length > 0) throw ServiceError.failedPrecondition(`label-space mismatch: ${unknown.length} class folders of ${req.evalSet.name} are not ImageNet-1k wnids (${unknown.slice(0, 3).join(', ')})`);
    async function* records(resumeFrom: Cursor | undefined): AsyncGenerator<EmbedRecord> {
      for await (const r of opened.records(resumeFrom, ctx.signal)) yield r.ok ? { ok: true, bytes: r.bytes, label: index.get(opened.classes[r.label]!)!, cursor: r.cursor } : { ok: false, cursor: r.cursor };
    }
    const q = await embedInParts(records, {
      dir: join(out, 'query-features'),
      embedder: deps.embedder,
      model: req.encoderModel,
      signal: ctx.signal,
      partRows: deps.embedPartRows,
      resume: state.embedding,
      onPart: (progress) => ctx.checkpoint({ ...state, embedding: progress }),
      onBatch: (done) => ctx.progress(done, opened.total, `${req.evalSet.name}: ${done} images embedded`),
    });
    if (q.features.rows === 0) throw ServiceError.failedPrecondition(`evaluation set ${req.evalSet.name} has no image the encoder accepted (${q.failed} failed); no result is reported`);
    await writeNpy(join(out, 'queries.npy'), q.features.data, { dim: q.features.cols });
    await writeNpy(join(out, 'query_labels.npy'), Float32Array.from(q.labels), { dim: 1 });
    state.queries = { rows: q.features.rows, failed: q.failed };
    state.phase = 'knn';
    delete state.embedding;
    await ctx.checkpoint(state);
  }
  const queries = await readMatrix(join(out, 'queries.npy'));
  const labels = Int32Array.from((await readMatrix(join(out, 'query_labels.npy'))).data);
  const maxK = Math.max(...req.ks);
  const onBlock = (done: number): void => ctx.progress(done, queries.rows, 'kNN');
  let neighbours: TopKResult;
  let bankLabels: Int32Array;
  let bankParams: Record<string, unknown>;
  if (bankIndex !== undefined) {
    // described again: the index may have been refilled since the bank phase (a resumed job)
    const info = await deps.retrievalBank.describe(bankIndex, ctx.signal);
    const found = await searchRetrievalBank(deps.retrievalBank, info, queries, maxK, wnids, { signal: ctx.signal, onBlock, encoderModel: req.encoderModel });
    neighbours = found.neighbours;
    bankLabels = found.bankLabels;
    bankParams = { per_class: Math.round(info.size / wnids.length), bank_source: req.bankUri, bank_kind: 'retrieval', bank_size: info.size, bank_metric: info.metric };
  } else {
    const bank = await readMatrix(join(out, 'bank', 'features.npy'));
    bankLabels = Int32Array.from((await readMatrix(join(out, 'bank', 'labels.npy'))).data);
    if (bank.cols !== queries.cols) throw ServiceError.failedPrecondition(`the bank has ${bank.cols}-d features, the evaluation set ${queries.cols}-d: not the same encoder`);
    const linalg = await deps.linalg();
    neighbours = await linalg.topK(queries, transpose(bank), maxK, { signal: ctx.signal, onBlock });
    const b = state.bank!;
    bankParams = { per_class: b.perClass, bank_source: b.source, bank_kind: req.bankUri ? 'directory' : 'built', bank_size: bank.rows, oversampled_classes: b.oversampled, empty_classes: b.empty };
  }
  const acc = new KnnAccumulator({ ks: req.ks, temperature: req.temperature, classes: wnids.length, bankLabels });
  acc.add(neighbours, labels);
  const benchmark = `knn:${req.evalSet.name}`;
  const params = { temperature: req.temperature, ...bankParams, failed_images: state.queries!.failed };
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
