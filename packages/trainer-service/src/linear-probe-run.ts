import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JobContext, JobKind } from '@select/jobs';
import { ServiceError, writeFileAtomic } from '@select/platform';
import type { trainerV1 } from '@select/contracts';
import { runChild } from './child-process.js';
import { requireFreeSpace } from './disk-space.js';
import type { FeatureSource } from './features.js';
import type { RunBoard } from './run-board.js';
import { readShiftInfo, resolveShiftDir } from './shift-info.js';
import { baseRunFields, checkRunId, runJobId, type BaseRunRequest } from './run-request.js';

export const LINEAR_PROBE_KIND = 'linear-probe';
export const PROBE_SCRIPT = fileURLToPath(new URL('../python/linear_probe.py', import.meta.url));
const PROTOCOLS = ['clip', 'clip-benchmark', 'both'];

/** A normalised linear-probe run. Defaults: see LinearProbeOptions in trainer.proto. */
export interface LinearProbeRequest extends BaseRunRequest {
  backend: 'linear-probe';
  embeddingModel: string;
  featuresUri: string;
  protocol: string;
  valFraction: number;
  testFraction: number;
  cValues: number[];
  weightDecays: number[];
  maxIter: number;
  tol: number;
  epochs: number;
  lr: number;
  batchSize: number;
  patience: number;
  seed: number;
}

export interface LinearProbeBackendOptions {
  board: RunBoard;
  features: FeatureSource;
  shiftRoot: string | undefined;
  python: string;
  torchThreads: number;
  minFreeBytes: number;
}

export function linearProbeKind(options: LinearProbeBackendOptions): JobKind<LinearProbeRequest | trainerV1.TrainingRequest__Output, { stage: string }> {
  const { board } = options;
  return {
    kind: LINEAR_PROBE_KIND,
    unit: 'stages',
    async normalize(raw) {
      if ('protocol' in raw) return raw;
      const req = raw;
      checkRunId(req.runId);
      const lp = req.linearProbe;
      const protocol = lp?.protocol || 'both';
      if (!PROTOCOLS.includes(protocol)) throw ServiceError.invalidArgument(`linear_probe.protocol "${protocol}" is not one of ${PROTOCOLS.join(', ')}`);
      const fraction = (v: number | undefined, name: string): number => {
        const f = v || 0.1;
        if (!(f > 0 && f < 0.5)) throw ServiceError.invalidArgument(`linear_probe.${name} ${f} must be in (0, 0.5)`);
        return f;
      };
      const positive = (v: number[], name: string): number[] => {
        for (const x of v) if (!(Number.isFinite(x) && x > 0)) throw ServiceError.invalidArgument(`linear_probe.${name} holds ${x}; every value must be positive`);
        return v;
      };
      const featuresUri = req.featuresUri ? resolveShiftDir(req.featuresUri, options.shiftRoot, 'features_uri') : '';
      if (!featuresUri && !options.features.canEmbed) {
        throw ServiceError.failedPrecondition('this trainer has no embedding service (TRAINER_EMBEDDING_ADDRESS): give features_uri, an embedding dataset job output of the shift');
      }
      const shift = await readShiftInfo(resolveShiftDir(req.shiftUri, options.shiftRoot), { allowMissingClasses: req.allowMissingClasses });
      const valFraction = fraction(lp?.valFraction, 'val_fraction');
      const testFraction = fraction(lp?.testFraction, 'test_fraction');
      const splits = probeSplitSizes(shift.samples, valFraction, testFraction);
      if (!(splits.train >= 1 && splits.val >= 1 && splits.test >= 1)) {
        throw ServiceError.failedPrecondition(
          `shift_uri ${shift.dir} holds ${shift.samples} samples: too few for a linear probe with val_fraction ${valFraction} and test_fraction ${testFraction}, ` +
            `which would split them into train ${splits.train}, val ${splits.val} and test ${splits.test}; each split needs a sample ` +
            `(the fewest samples that give each one: ${minProbeSamples(valFraction, testFraction)})`,
        );
      }
      const normalized: LinearProbeRequest = {
        ...baseRunFields(req, shift, 'linear-probe'),
        backend: 'linear-probe',
        embeddingModel: req.embeddingModel,
        featuresUri,
        protocol,
        valFraction,
        testFraction,
        cValues: positive(lp?.cValues ?? [], 'c_values'),
        weightDecays: (lp?.weightDecays ?? []).map((w) => {
          if (!(Number.isFinite(w) && w >= 0)) throw ServiceError.invalidArgument(`linear_probe.weight_decays holds ${w}; weight decays are >= 0`);
          return w;
        }),
        maxIter: lp?.maxIter || 1000,
        tol: lp?.tol || 1e-6,
        epochs: lp?.epochs || 10,
        lr: lp?.lr || 0.1,
        batchSize: lp?.batchSize || 256,
        patience: lp?.patience || 3,
        seed: Number(req.recipe?.seed ?? 0),
      };
      board.prime(runJobId(LINEAR_PROBE_KIND, normalized), { runId: runJobId(LINEAR_PROBE_KIND, normalized), backend: normalized.backend, shiftId: normalized.shiftId, shiftUri: normalized.shiftDir, recipeName: normalized.recipeName });
      return normalized;
    },
    jobId: (r) => runJobId(LINEAR_PROBE_KIND, r as LinearProbeRequest),
    outputUri: (_r, jobId) => board.runDir(jobId),
    initialTotal: () => 3,
    run: (ctx) => runProbe(ctx as JobContext<LinearProbeRequest, { stage: string }>, options),
  };
}

/** Python's round(): halves to even, as linear_probe.py rounds its split sizes. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return x - Math.floor(x) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The train, val and test sizes linear_probe.py's split_indices draws from `n` samples. */
export function probeSplitSizes(n: number, valFraction: number, testFraction: number): { train: number; val: number; test: number } {
  const test = roundHalfEven(n * testFraction);
  const val = roundHalfEven(n * valFraction);
  return { train: n - test - val, val, test };
}

/** The fewest samples for which every split of the probe holds one (fractions in (0, 0.5)). */
export function minProbeSamples(valFraction: number, testFraction: number): number {
  // round(n f) >= 1 needs n f > 0.5; start just below that bound and walk up to the first n that fits
  let n = Math.max(3, Math.floor(0.5 / Math.max(valFraction, 1e-9)), Math.floor(0.5 / Math.max(testFraction, 1e-9)));
  for (;;) {
    const s = probeSplitSizes(n, valFraction, testFraction);
    if (s.train >= 1 && s.val >= 1 && s.test >= 1) return n;
    n++;
  }
}

interface ProbeResult {
  protocols: Record<string, Record<string, number>>;
  exported: string;
  seed: number;
  splits: Record<string, number>;
}

async function runProbe(ctx: JobContext<LinearProbeRequest, { stage: string }>, options: LinearProbeBackendOptions): Promise<string> {
  const { board } = options;
  const req = ctx.request;
  const runId = ctx.jobId;
  const runDir = ctx.outputUri;
  await mkdir(runDir, { recursive: true });
  await requireFreeSpace(runDir, options.minFreeBytes, 'the probe does not start');
  const shift = await readShiftInfo(req.shiftDir, { allowMissingClasses: req.allowMissingClasses });
  await board.update(runId, { backend: 'linear-probe', shiftId: req.shiftId, shiftUri: req.shiftDir, recipeName: req.protocol });

  ctx.progress(0, 3, 'features');
  const features = await options.features.load(shift, {
    model: req.embeddingModel,
    featuresUri: req.featuresUri,
    cacheDir: join(runDir, 'features'),
    signal: ctx.signal,
    progress: (done, total) => ctx.progress(0, 3, `features: ${done} of ${total} images embedded`),
  });
  ctx.progress(1, 3, `probing ${features.rows} features of dimension ${features.dim} (${features.source})`);
  await ctx.checkpoint({ stage: 'features' });

  const exportDir = join(runDir, 'export');
  const argv = [
    options.python, PROBE_SCRIPT,
    '--features', join(runDir, 'features', 'features.npy'),
    '--labels', join(runDir, 'features', 'labels.npy'),
    '--num-classes', String(shift.classes.length),
    '--protocol', req.protocol,
    '--val-fraction', String(req.valFraction),
    '--test-fraction', String(req.testFraction),
    '--max-iter', String(req.maxIter),
    '--tol', String(req.tol),
    '--epochs', String(req.epochs),
    '--lr', String(req.lr),
    '--batch-size', String(req.batchSize),
    '--patience', String(req.patience),
    '--seed', String(req.seed),
    '--threads', String(options.torchThreads),
    '--out', exportDir,
    ...(req.cValues.length ? ['--c-values', ...req.cValues.map(String)] : []),
    ...(req.weightDecays.length ? ['--weight-decays', ...req.weightDecays.map(String)] : []),
  ];
  let result: ProbeResult | null = null;
  const child = runChild(argv, {
    cwd: runDir,
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
    logFile: join(runDir, 'probe.log'),
    onLine(line) {
      if (!line.startsWith('{')) return;
      let msg: { metric?: { protocol: string; split: string; name: string; value: number; step: number; epoch: number }; result?: ProbeResult };
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        return;
      }
      if (msg.metric) {
        const m = msg.metric;
        board.metrics(runId, req.shiftId, [{ epoch: m.epoch, step: m.step, split: m.split, name: `${m.protocol}.${m.name}`, value: m.value }]);
      }
      if (msg.result) result = msg.result;
    },
  });
  const stop = (): void => void child.stop();
  ctx.signal.addEventListener('abort', stop, { once: true });
  const exit = await child.exited;
  ctx.signal.removeEventListener('abort', stop);
  if (ctx.signal.aborted) throw ctx.signal.reason;
  if (exit.code !== 0 || !result || !existsSync(join(exportDir, 'model.onnx'))) {
    throw new Error(`linear probe ${exit.code !== 0 ? `exited with code ${exit.code}` : 'ended without a result'}; last output:\n${child.tail(12)}`);
  }
  const probe = result as ProbeResult;
  const results: Record<string, number> = { features: features.rows, dimension: features.dim, dropped: features.dropped, seed: req.seed };
  for (const [protocol, values] of Object.entries(probe.protocols)) for (const [k, v] of Object.entries(values)) if (typeof v === 'number') results[`${protocol}.${k}`] = v;
  const config = {
    type: 'linear-probe-head',
    protocol: probe.exported,
    protocols: probe.protocols,
    input: 'features',
    output: 'logits',
    dimension: features.dim,
    num_classes: shift.classes.length,
    label_names: shift.classes,
    features: { source: features.source, embedding_model: req.embeddingModel, l2_normalized: true },
    seed: req.seed,
    splits: probe.splits,
  };
  await writeFileAtomic(join(exportDir, 'config.json'), JSON.stringify(config, null, 1));
  await board.update(runId, { backend: 'linear-probe', artifactUri: exportDir, results });
  ctx.progress(3, 3, 'done');
  const best = probe.protocols[probe.exported]!;
  return `linear probe (${Object.keys(probe.protocols).join(' and ')}): exported ${probe.exported}, held-out top-1 ${best['test_top1']?.toFixed(2)} on ${probe.splits['test']} samples; ONNX head in ${exportDir}`;
}

/** Reads an exported probe's config.json (tests, CLI). */
export async function readProbeConfig(exportDir: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(exportDir, 'config.json'), 'utf8')) as Record<string, unknown>;
}
