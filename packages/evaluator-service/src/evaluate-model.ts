// The 'evaluate-model' job: a classifier on one or more evaluation sets. Per set: top-1/top-5 over all images,
// mean per-class accuracy, NLL, ECE, per-class accuracy and precision; ImageNet-C parts averaged. Predictions go
// to <output>/predictions/<set>.jsonl as they are made; the job checkpoints the reader's cursor, the metric state
// and the predictions' length, so an interrupted evaluation resumes where it stopped. Results are published
// only when every set is done.
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open, truncate } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import type { evaluatorV1 } from '@select/contracts';
import type { Cursor } from '@select/datasets';
import { defaultJobId, type JobContext, type JobKind } from '@select/jobs';
import { ServiceError } from '@select/platform';
import type { ImageNetTaxonomy } from '@select/taxonomy';
import { Classifier, type ClassifierInfo } from './classifier.js';
import type { ImageEmbedder } from './embedder.js';
import { LabelSpaceError } from './errors.js';
import { CLASS_SUBSETS, EVAL_FORMATS, expandImageNetC, openEvalSet, transformFor, type EvalSetSpec, type OpenedEvalSet } from './eval-sets.js';
import { ClassificationAccumulator, type ClassificationState, type ClassificationSummary } from './metrics/classification.js';
import { LabelSpace } from './metrics/label-space.js';
import { writeResultsFile, type ResultIdentity, type ResultRecord, type ResultSink } from './results.js';

export const EVALUATE_MODEL_KIND = 'evaluate-model';

export interface EvaluateModelJobRequest {
  evalId: string;
  runId: string;
  shiftId: string;
  modelId: string;
  modelUri: string;
  seed: number;
  batchSize: number;
  sets: EvalSetSpec[];
}

interface SetOutcome {
  name: string;
  group: string;
  classes: string[];
  summary: ClassificationSummary;
  perClass: Array<{ position: number; count: number; accuracy: number; precision: number }>;
  failed: number;
  transform: string;
}

interface EvaluateModelState {
  setIndex: number;
  cursor: Cursor | undefined;
  metrics: ClassificationState | undefined;
  failed: number;
  predictionsBytes: number;
  done: SetOutcome[];
  modelId: string;
}

export interface EvaluatorDeps {
  taxonomy: ImageNetTaxonomy;
  results: ResultSink;
  embedder: ImageEmbedder;
  dataDir: string;
  threads: number | undefined;
  /** Images between checkpoints. */
  checkpointEvery: number;
  /** Rows per part file (and checkpoint) of a kNN embedding phase. */
  embedPartRows: number;
}

const SAFE = /[^A-Za-z0-9._-]+/g;

/** Validates an EvaluateModel request into the job's normalised request. */
export async function normalizeEvaluateModel(request: evaluatorV1.EvaluateModelRequest__Output): Promise<EvaluateModelJobRequest> {
  const modelUri = request.checkpointUri.trim();
  if (!modelUri) throw ServiceError.invalidArgument('checkpoint_uri is required: the trainer’s ONNX export directory or a model.onnx');
  if (request.sets.length === 0) throw ServiceError.invalidArgument('sets is empty: give at least one evaluation set');
  if (request.evalId && !/^[A-Za-z0-9._-]{1,128}$/.test(request.evalId)) throw ServiceError.invalidArgument('eval_id may hold letters, digits, ".", "_" and "-" only (at most 128)');
  const sets: EvalSetSpec[] = [];
  for (const [i, s] of request.sets.entries()) {
    const where = `sets[${i}]`;
    if (!s.name) throw ServiceError.invalidArgument(`${where}.name is required (e.g. "imagenet-val")`);
    if (!s.uri) throw ServiceError.invalidArgument(`${where}.uri is required`);
    const format = (s.format || 'imagefolder') as (typeof EVAL_FORMATS)[number];
    if (!EVAL_FORMATS.includes(format)) throw ServiceError.invalidArgument(`${where}.format ${JSON.stringify(s.format)} is not one of ${EVAL_FORMATS.join(', ')}`);
    const classSubset = s.classSubset as (typeof CLASS_SUBSETS)[number];
    if (!CLASS_SUBSETS.includes(classSubset)) throw ServiceError.invalidArgument(`${where}.class_subset ${JSON.stringify(s.classSubset)} is not one of ${CLASS_SUBSETS.filter(Boolean).join(', ')} (or empty)`);
    if (classSubset === 'objectnet' && format !== 'imagefolder') throw ServiceError.invalidArgument(`${where}: ObjectNet is read as an ImageFolder`);
    const preprocessing = (s.preprocessing || 'select') as 'select' | 'model';
    if (preprocessing !== 'select' && preprocessing !== 'model') throw ServiceError.invalidArgument(`${where}.preprocessing must be "select" or "model"`);
    const base = {
      name: s.name,
      uri: resolve(s.uri),
      classSubset,
      classMappingUri: s.classMappingUri ? resolve(s.classMappingUri) : '',
      preprocessing,
      maxImages: s.maxImages,
    };
    if (format === 'imagenet-c') sets.push(...(await expandImageNetC(base)));
    else sets.push({ ...base, format, group: '' });
  }
  const names = new Set<string>();
  for (const s of sets) {
    if (names.has(s.name)) throw ServiceError.invalidArgument(`evaluation set ${s.name} is given twice`);
    names.add(s.name);
  }
  return {
    evalId: request.evalId,
    runId: request.runId,
    shiftId: request.shiftId,
    modelId: request.modelId,
    modelUri: isAbsolute(modelUri) ? modelUri : resolve(modelUri),
    seed: request.seed,
    batchSize: request.batchSize || 32,
    sets,
  };
}

/** The label space of a model on a set; refuses output sizes that fit neither 1000 nor the subset. */
export function labelSpaceFor(set: OpenedEvalSet, info: ClassifierInfo, taxonomy: ImageNetTaxonomy): LabelSpace {
  const wnids = taxonomy.classes.map((c) => c.wnid);
  const subset = set.spec.classSubset;
  if (set.mapping) {
    const names = info.labelNames ?? (info.outputs === 1000 ? wnids : undefined);
    if (!names || names.length !== 1000) throw new LabelSpaceError(`ObjectNet maps ImageNet-1k outputs; the model has ${info.outputs}`);
    const outputIndex = new Map(names.map((w, i) => [w, i]));
    const byOutput = new Map([...set.mapping].map(([name, indices]) => [name, indices.map((i) => outputIndex.get(wnids[i]!) ?? -1).filter((o) => o >= 0)]));
    return LabelSpace.fromMapping(set.classes, byOutput, info.outputs);
  }
  const mask = subset === 'imagenet-a' || subset === 'imagenet-r' || subset === 'eval-classes';
  if (info.labelNames) return LabelSpace.fromWnids(set.classes, info.labelNames, mask);
  if (info.outputs === 1000) return LabelSpace.fromWnids(set.classes, wnids, mask);
  const subsetSize = subset === 'imagenet-a' || subset === 'imagenet-r' ? taxonomy.subset(subset).size : subset === 'eval-classes' ? set.classes.length : undefined;
  if (subsetSize !== undefined && info.outputs === subsetSize) {
    return LabelSpace.fromWnids(set.classes, subset === 'eval-classes' ? set.classes : [...taxonomy.subset(subset as 'imagenet-a').wnids], false);
  }
  throw new LabelSpaceError(
    `the model has ${info.outputs} outputs: neither 1000 nor the ${subsetSize ?? 1000}-class subset of set ${set.spec.name}, and its config.json names no labels`,
  );
}

/** Result records of finished sets (per-class rows included) plus the ImageNet-C means. */
export function modelResultRecords(outcomes: readonly SetOutcome[]): ResultRecord[] {
  const records: ResultRecord[] = [];
  for (const o of outcomes) {
    const n = o.summary.images;
    const params = { transform: o.transform, failed_images: o.failed };
    records.push(
      { benchmark: o.name, metric: 'top1', value: o.summary.top1, numSamples: n, params },
      { benchmark: o.name, metric: 'top5', value: o.summary.top5, numSamples: n, params },
      { benchmark: o.name, metric: 'mean_per_class_accuracy', value: o.summary.meanPerClassAccuracy, numSamples: n, params },
      { benchmark: o.name, metric: 'nll', value: o.summary.nll, numSamples: n, params },
      { benchmark: o.name, metric: 'ece', value: o.summary.ece, numSamples: n, params },
    );
    for (const c of o.perClass) {
      const classParams = { class_index: c.position, class_name: o.classes[c.position]! };
      if (c.count > 0) records.push({ benchmark: o.name, metric: 'class_accuracy', value: c.accuracy, numSamples: c.count, params: classParams });
      if (Number.isFinite(c.precision)) records.push({ benchmark: o.name, metric: 'class_precision', value: c.precision, numSamples: c.count, params: classParams });
    }
  }
  const groups = new Map<string, SetOutcome[]>();
  for (const o of outcomes) if (o.group) groups.set(o.group, [...(groups.get(o.group) ?? []), o]);
  for (const [group, parts] of groups) {
    const images = parts.reduce((a, p) => a + p.summary.images, 0);
    const params = { parts: parts.length, mean_over: 'corruptions x severities' };
    records.push(
      { benchmark: group, metric: 'top1', value: parts.reduce((a, p) => a + p.summary.top1, 0) / parts.length, numSamples: images, params },
      { benchmark: group, metric: 'top5', value: parts.reduce((a, p) => a + p.summary.top5, 0) / parts.length, numSamples: images, params },
    );
  }
  return records;
}

/** The job kind, bound to the service's dependencies. */
export function evaluateModelKind(deps: EvaluatorDeps): JobKind<EvaluateModelJobRequest, EvaluateModelState> {
  return {
    kind: EVALUATE_MODEL_KIND,
    unit: 'images',
    normalize: (r) => r,
    jobId: (r) => r.evalId || defaultJobId(EVALUATE_MODEL_KIND, r),
    outputUri: (_r, jobId) => join(deps.dataDir, 'evaluations', jobId),
    run: (ctx) => runEvaluateModel(ctx, deps),
  };
}

async function runEvaluateModel(ctx: JobContext<EvaluateModelJobRequest, EvaluateModelState>, deps: EvaluatorDeps): Promise<string> {
  const req = ctx.request;
  const out = ctx.outputUri;
  await mkdir(join(out, 'predictions'), { recursive: true });
  const classifier = await Classifier.open(req.modelUri, deps.threads ? { threads: deps.threads } : {});
  try {
    const info = classifier.info;
    const state: EvaluateModelState = ctx.resumeState ?? { setIndex: 0, cursor: undefined, metrics: undefined, failed: 0, predictionsBytes: 0, done: [], modelId: req.modelId || info.modelId };
    if (info.input === 'features' && !info.embeddingModel) {
      throw ServiceError.failedPrecondition('the model takes features but its config.json names no features.embedding_model to compute them with');
    }
    for (; state.setIndex < req.sets.length; state.setIndex++) {
      const spec = req.sets[state.setIndex]!;
      const opened = await openEvalSet(spec, deps.taxonomy);
      const space = labelSpaceFor(opened, info, deps.taxonomy);
      const transform = info.input === 'images' ? transformFor(spec, info.preprocessing, info.inputSize) : undefined;
      if (transform && info.inputSize && (info.inputSize.height !== transform.height || info.inputSize.width !== transform.width)) {
        throw ServiceError.failedPrecondition(
          `the model takes ${info.inputSize.height}x${info.inputSize.width} images but ${spec.name}'s transform (${transform.describe}) gives ${transform.height}x${transform.width}; evaluate with preprocessing "model"`,
        );
      }
      const acc = new ClassificationAccumulator(space, state.metrics);
      const predictionsFile = join(out, 'predictions', `${spec.name.replace(SAFE, '_')}.jsonl`);
      await truncateTo(predictionsFile, state.predictionsBytes);
      const predictions = createWriteStream(predictionsFile, { flags: 'a' });
      let bytes = state.predictionsBytes;
      let sinceCheckpoint = 0;
      const save = async (cursor: Cursor): Promise<void> => {
        await flushStream(predictions, predictionsFile);
        state.cursor = cursor;
        state.metrics = acc.state();
        state.predictionsBytes = bytes;
        await ctx.checkpoint(state);
        sinceCheckpoint = 0;
      };
      try {
        let batch: Array<{ key: string; bytes: Uint8Array; label: number }> = [];
        let lastCursor: Cursor | undefined = state.cursor;
        const runBatch = async (): Promise<void> => {
          if (batch.length === 0) return;
          const items = batch;
          batch = [];
          const inputs = await prepareInputs(items, info, transform, deps.embedder, ctx.signal);
          const good = inputs.rows;
          for (const bad of inputs.failures) {
            state.failed++;
            ctx.logger.warn({ set: spec.name, key: bad.key, error: bad.message }, 'image skipped');
          }
          if (good.length === 0) return;
          const logits = await classifier.run(inputs.data, inputs.dims);
          const width = logits.length / good.length;
          good.forEach((item, r) => {
            const p = acc.add(logits.subarray(r * width, (r + 1) * width), item.label);
            const line = `${JSON.stringify({ key: item.key, label: p.label, top5: p.top5, top5_prob: p.top5Prob.map((v) => Number(v.toPrecision(6))), true_prob: Number(p.trueProb.toPrecision(6)) })}\n`;
            bytes += Buffer.byteLength(line);
            predictions.write(line);
          });
          sinceCheckpoint += items.length;
          ctx.progress(acc.images + state.failed, opened.total, `${spec.name} (set ${state.setIndex + 1} of ${req.sets.length}): ${acc.images} images`);
        };
        for await (const record of opened.records(state.cursor, ctx.signal)) {
          if (!record.ok) {
            state.failed++;
            ctx.logger.warn({ set: spec.name, key: record.key, error: record.message }, 'image skipped');
          } else batch.push({ key: record.key, bytes: record.bytes, label: record.label });
          lastCursor = record.cursor;
          if (batch.length >= req.batchSize) {
            await runBatch();
            if (sinceCheckpoint >= deps.checkpointEvery) await save(lastCursor);
          }
        }
        await runBatch();
        if (acc.images === 0) {
          throw ServiceError.failedPrecondition(`evaluation set ${spec.name} has no readable images (${state.failed} failed); no result is reported for it`);
        }
        state.done.push({
          name: spec.name,
          group: spec.group,
          classes: opened.classes,
          summary: acc.summary(),
          perClass: acc.perClass().map(({ position, count, accuracy, precision }) => ({ position, count, accuracy, precision })),
          failed: state.failed,
          transform: transform?.describe ?? `features of ${info.embeddingModel}`,
        });
      } finally {
        await closeStream(predictions);
      }
      state.cursor = undefined;
      state.metrics = undefined;
      state.failed = 0;
      state.predictionsBytes = 0;
      await ctx.checkpoint({ ...state, setIndex: state.setIndex + 1 });
    }
    const records = modelResultRecords(state.done);
    const identity: ResultIdentity = { evalId: ctx.jobId, runId: req.runId, shiftId: req.shiftId, modelId: state.modelId, seed: req.seed, kind: EVALUATE_MODEL_KIND };
    await deps.results.publish(identity, records);
    await writeResultsFile(out, identity, records);
    return state.done.map((o) => `${o.name} top-1 ${o.summary.top1.toFixed(2)} on ${o.summary.images} images${o.failed ? ` (${o.failed} unreadable)` : ''}`).join('; ');
  } finally {
    await classifier.close();
  }
}

async function prepareInputs(
  items: Array<{ key: string; bytes: Uint8Array; label: number }>,
  info: ClassifierInfo,
  transform: ReturnType<typeof transformFor> | undefined,
  embedder: ImageEmbedder,
  signal: AbortSignal,
): Promise<{ data: Float32Array; dims: number[]; rows: typeof items; failures: Array<{ key: string; message: string }> }> {
  const failures: Array<{ key: string; message: string }> = [];
  if (transform) {
    const size = 3 * transform.height * transform.width;
    const tensors = await Promise.all(
      items.map(async (item) => {
        const t = new Float32Array(size);
        try {
          await transform.apply(item.bytes, t, 0);
          return t;
        } catch (error) {
          failures.push({ key: item.key, message: (error as Error).message });
          return undefined;
        }
      }),
    );
    const rows = items.filter((_, i) => tensors[i]);
    const data = new Float32Array(rows.length * size);
    let r = 0;
    for (const t of tensors) if (t) data.set(t, r++ * size);
    return { data, dims: [rows.length, 3, transform.height, transform.width], rows, failures };
  }
  const outcomes = await embedder.embed(info.embeddingModel!, items.map((i) => i.bytes), signal);
  const vectors: Float32Array[] = [];
  const rows: typeof items = [];
  outcomes.forEach((o, i) => {
    if (o.ok) {
      vectors.push(o.vector);
      rows.push(items[i]!);
    } else failures.push({ key: items[i]!.key, message: o.message });
  });
  const dim = vectors[0]?.length ?? 0;
  const data = new Float32Array(vectors.length * dim);
  vectors.forEach((v, i) => data.set(v, i * dim));
  return { data, dims: [vectors.length, dim], rows, failures };
}

async function truncateTo(file: string, length: number): Promise<void> {
  try {
    await truncate(file, length);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

async function flushStream(stream: WriteStream, file: string): Promise<void> {
  await new Promise<void>((res, rej) => stream.write('', (err) => (err ? rej(err) : res())));
  const handle = await open(file, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function closeStream(stream: WriteStream): Promise<void> {
  return new Promise((res) => stream.end(() => res()));
}
