import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, symlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JobContext, JobKind } from '@select/jobs';
import { ShiftWriter, readClassShards } from '@select/datasets';
import { ServiceError, writeFileAtomic } from '@select/platform';
import type { trainerV1 } from '@select/contracts';
import { runChild } from './child-process.js';
import { requireFreeSpace } from './disk-space.js';
import { recipeYaml, resolveRecipe, type Recipe } from './recipes.js';
import type { RunBoard } from './run-board.js';
import { readShiftInfo, resolveShiftDir, type ShiftInfo } from './shift-info.js';
import { SummaryFormatError, inEpochStatus, parseSummary, parseTrainLine, parseUpdatesPerEpoch, summaryMetrics } from './timm-output.js';
import { baseRunFields, checkRunId, runJobId, type BaseRunRequest } from './run-request.js';

export const TIMM_KIND = 'train';
const PYTHON_DIR = fileURLToPath(new URL('../python/', import.meta.url));
export const TRAIN_SCRIPT = join(PYTHON_DIR, 'train_select.py');
export const EXPORT_SCRIPT = join(PYTHON_DIR, 'export_onnx.py');
/** The experiment folder name inside <run>/output: train.py's --experiment. */
const EXPERIMENT = 'train';
const DATASET_NAME = 'select';
const DEFAULT_VAL_FRACTION = 0.1;

/** A normalised timm run (what the job state file stores). */
export interface TimmRunRequest extends BaseRunRequest {
  backend: 'timm';
  valDir: string;
  valFraction: number;
  numClasses: number;
  recipe: Recipe;
}

export interface TimmBackendOptions {
  board: RunBoard;
  shiftRoot: string | undefined;
  python: string;
  /** argv prefix of the training command; empty: python train_select.py. */
  command: string[];
  nproc: number;
  torchThreads: number;
  minFreeBytes: number;
  /** How often the output folder is read, ms. @default 500 */
  pollMs?: number;
}

/** Shards of the training split and of the validation split (names inside the view directory). */
interface SplitPlan {
  train: Array<{ name: string; samples: number; target: string }>;
  validation: Array<{ name: string; samples: number; target: string }>;
}

/**
 * Every `round(1 / fraction)`-th shard (starting with the last of each group) is validation: spread over the
 * shift, since curators often write classes in order. Stock timm reads the result with `--val-split validation`.
 */
export function planSplits(shift: ShiftInfo, val: ShiftInfo | null, fraction: number, minShards = 1): SplitPlan {
  const at = (s: ShiftInfo, prefix: string) => s.shards.map((sh) => ({ name: `${prefix}${sh.name}`, samples: sh.samples, target: join(s.dir, sh.name) }));
  if (val) return { train: at(shift, ''), validation: at(val, 'val-') };
  const all = at(shift, '');
  const every = Math.max(2, Math.round(1 / fraction));
  const validation = all.filter((_s, i) => i % every === every - 1 || (all.length < every && i === all.length - 1));
  // timm's wds reader gives each rank its own shards: every split needs at least one shard per training process
  for (let i = all.length - 1; validation.length < minShards && i >= 0; i--) if (!validation.includes(all[i]!)) validation.push(all[i]!);
  validation.sort((a, b) => all.indexOf(a) - all.indexOf(b));
  const train = all.filter((s) => !validation.includes(s));
  return { train, validation };
}

export function timmRunKind(options: TimmBackendOptions): JobKind<TimmRunRequest | trainerV1.TrainingRequest__Output, { epochsDone: number }> {
  const { board } = options;
  return {
    kind: TIMM_KIND,
    unit: 'epochs',
    async normalize(raw) {
      if ('recipe' in raw && 'valDir' in raw) return raw as TimmRunRequest;
      const req = raw as trainerV1.TrainingRequest__Output;
      checkRunId(req.runId);
      const recipe = resolveRecipe(req.recipeName, req.recipe);
      const shiftDir = resolveShiftDir(req.shiftUri, options.shiftRoot);
      const shift = await readShiftInfo(shiftDir, { allowMissingClasses: req.allowMissingClasses });
      const valDir = req.valUri ? resolveShiftDir(req.valUri, options.shiftRoot, 'val_uri') : '';
      const val = valDir ? await readShiftInfo(valDir, { allowMissingClasses: true, field: 'val_uri' }) : null;
      if (val && val.classes.join() !== shift.classes.join()) {
        throw ServiceError.failedPrecondition(`val_uri ${valDir} has another label space than the shift (${val.classes.length} vs ${shift.classes.length} classes)`);
      }
      const valFraction = req.valFraction || DEFAULT_VAL_FRACTION;
      if (!(valFraction > 0 && valFraction < 1)) throw ServiceError.invalidArgument(`val_fraction ${valFraction} must be in (0, 1)`);
      if (!val && shift.samples < 2) throw ServiceError.failedPrecondition(`shift ${shiftDir} has ${shift.samples} sample: too few to hold out a validation split`);
      const numClasses = req.numClasses || shift.classes.length;
      if (numClasses < shift.classes.length) {
        throw ServiceError.invalidArgument(`num_classes ${numClasses} is smaller than the shift's label space (${shift.classes.length} classes)`);
      }
      const normalized: TimmRunRequest = {
        ...baseRunFields(req, shift, 'timm'),
        backend: 'timm',
        valDir,
        valFraction,
        numClasses,
        recipe,
      };
      board.prime(runJobId(TIMM_KIND, normalized), { runId: runJobId(TIMM_KIND, normalized), backend: normalized.backend, shiftId: normalized.shiftId, shiftUri: normalized.shiftDir, recipeName: normalized.recipeName, recipe: normalized.recipe, checkpointUri: join(board.runDir(runJobId(TIMM_KIND, normalized)), 'output', EXPERIMENT, 'last.pth.tar') });
      return normalized;
    },
    jobId: (r) => runJobId(TIMM_KIND, r as TimmRunRequest),
    outputUri: (_r, jobId) => board.runDir(jobId),
    initialTotal: (r) => (r as TimmRunRequest).recipe.epochs,
    resumeMessage: (s) => `resuming after epoch ${s.epochsDone} from last.pth.tar`,
    run: (ctx) => runTimm(ctx as JobContext<TimmRunRequest, { epochsDone: number }>, options),
  };
}

async function runTimm(ctx: JobContext<TimmRunRequest, { epochsDone: number }>, options: TimmBackendOptions): Promise<string> {
  const { board } = options;
  const req = ctx.request;
  const runId = ctx.jobId;
  const runDir = ctx.outputUri;
  const outDir = join(runDir, 'output', EXPERIMENT);
  await mkdir(outDir, { recursive: true });
  await requireFreeSpace(runDir, options.minFreeBytes, 'the run does not start');
  let shift = await readShiftInfo(req.shiftDir, { allowMissingClasses: req.allowMissingClasses });
  // whole shards are held out, at least one per training process in each split
  if (!req.valDir && shift.shards.length < Math.max(RESHARD_BELOW, 2 * options.nproc)) {
    shift = await reshard(shift, join(runDir, 'reshard'), ctx.signal, Math.max(RESHARD_INTO, 4 * options.nproc));
  }
  const val = req.valDir ? await readShiftInfo(req.valDir, { allowMissingClasses: true, field: 'val_uri' }) : null;
  await board.update(runId, {
    backend: 'timm',
    shiftId: req.shiftId,
    shiftUri: req.shiftDir,
    recipeName: req.recipeName || 'select',
    recipe: req.recipe,
    checkpointUri: join(outDir, 'last.pth.tar'),
  });

  // The data view: the shift's shards (symlinked, never copied) and an _info.json with both splits.
  const dataDir = join(runDir, 'data');
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true });
  const plan = planSplits(shift, val, req.valFraction, options.nproc);
  for (const s of [...plan.train, ...plan.validation]) await symlink(s.target, join(dataDir, s.name));
  const split = (name: string, shards: SplitPlan['train']) => ({
    name,
    num_samples: shards.reduce((n, s) => n + s.samples, 0),
    filenames: shards.map((s) => s.name),
    shard_lengths: shards.map((s) => s.samples),
  });
  await writeFileAtomic(
    join(dataDir, '_info.json'),
    JSON.stringify({ name: DATASET_NAME, splits: { train: split('train', plan.train), validation: split('validation', plan.validation) } }, null, 1),
  );
  await writeFileAtomic(join(runDir, 'recipe.yaml'), recipeYaml(req.recipe));
  await writeFileAtomic(join(runDir, 'classes.json'), JSON.stringify(paddedClasses(shift.classes, req.numClasses)));

  const summaryFile = join(outDir, 'summary.csv');
  const last = join(outDir, 'last.pth.tar');
  // Epochs already in summary.csv are reported again when the steps per epoch are known from an earlier attempt
  // (same event ids, so ClickHouse keeps one row each, and none is lost to a crash between a row and its events);
  // otherwise they count as reported.
  let updatesPerEpoch = (await board.report(runId))?.updatesPerEpoch ?? 0;
  const emitted = new Map<number, string>();
  // the last epoch's validation, kept in the in-epoch status lines
  let lastVal: { epoch: number; top1: number | undefined } | undefined;
  if (updatesPerEpoch === 0) for (const [epoch, row] of latestPerEpoch(await readRows(summaryFile))) emitted.set(epoch, JSON.stringify(row));
  let epochsDone = await takeRows(0);
  if (epochsDone < req.recipe.epochs) {
    const args = [
      '-c', join(runDir, 'recipe.yaml'),
      '--data-dir', dataDir,
      '--dataset', `wds/${DATASET_NAME}`,
      '--train-split', 'train',
      '--val-split', 'validation',
      '--num-classes', String(req.numClasses),
      '--output', join(runDir, 'output'),
      '--experiment', EXPERIMENT,
      ...(existsSync(last) ? ['--resume', last] : []),
    ];
    const script = options.command.length > 0 ? options.command : [options.python, TRAIN_SCRIPT];
    const argv = options.nproc > 1 ? [options.python, '-m', 'torch.distributed.run', '--standalone', `--nproc_per_node=${options.nproc}`, ...launchable(script, options.python), ...args] : [...script, ...args];
    ctx.logger.info({ argv, resumeFrom: existsSync(last) ? last : null }, 'training command starting');
    ctx.progress(epochsDone, req.recipe.epochs, epochsDone > 0 ? `resuming after epoch ${epochsDone}` : 'training');
    const env: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: '1' };
    if (options.torchThreads > 0) env['OMP_NUM_THREADS'] = String(options.torchThreads);
    let garbage = 0;
    // a training process a killed trainer left behind (its own process group survives) stops before a new one starts
    await stopOrphan(join(runDir, 'train.pid'), runDir, ctx.logger);
    const child = runChild(argv, {
      cwd: runDir,
      env,
      logFile: join(runDir, 'train.log'),
      onLine(line) {
        const upe = parseUpdatesPerEpoch(line) ?? parseTrainLine(line)?.updatesPerEpoch;
        if (upe && upe !== updatesPerEpoch) {
          updatesPerEpoch = upe;
          void board.update(runId, { backend: 'timm', updatesPerEpoch: upe }).catch(() => undefined);
        }
        const step = parseTrainLine(line);
        if (step) {
          board.metrics(runId, req.shiftId, step.metrics);
          const last = step.metrics[0]!;
          void board.update(runId, { backend: 'timm', epoch: step.epoch, step: last.step }).catch(() => undefined);
          // Within an epoch the status says where training is, not only once per epoch.
          ctx.progress(epochsDone, req.recipe.epochs, inEpochStatus(step, lastVal));
        } else if (/[^\x09\x20-\x7e\u00a0-\uffff]/.test(line)) garbage++;
      },
    });
    await writeFileAtomic(join(runDir, 'train.pid'), String(child.pid));
    const abort = (): void => void child.stop();
    ctx.signal.addEventListener('abort', abort, { once: true });
    if (ctx.signal.aborted) abort();
    let failure: Error | null = null;
    const pollMs = options.pollMs ?? 500;
    let polling = true;
    const follow = (async () => {
      while (polling) {
        await new Promise((r) => setTimeout(r, pollMs));
        try {
          epochsDone = await takeRows(epochsDone);
          await requireFreeSpace(runDir, options.minFreeBytes, `training stopped after epoch ${epochsDone}`);
        } catch (err) {
          failure = err as Error;
          await child.stop();
          return;
        }
      }
    })();
    const exit = await child.exited;
    polling = false;
    await follow;
    ctx.signal.removeEventListener('abort', abort);
    if (!failure) {
      try {
        epochsDone = await takeRows(epochsDone);
      } catch (err) {
        failure = err as Error;
      }
    }
    if (ctx.signal.aborted) throw ctx.signal.reason;
    if (failure) throw failure;
    if (exit.code !== 0) {
      throw new Error(`training command ${exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`} after ${epochsDone} of ${req.recipe.epochs} epochs; last output:\n${child.tail(15)}`);
    }
    if (epochsDone < req.recipe.epochs) {
      throw new Error(
        `training command exited 0 but summary.csv holds ${epochsDone} of ${req.recipe.epochs} epochs${garbage ? ` (${garbage} unreadable output lines)` : ''}; last output:\n${child.tail(10)}`,
      );
    }
  }

  // Export the best checkpoint to ONNX (timm.utils.onnx) for the evaluator.
  const best = existsSync(join(outDir, 'model_best.pth.tar')) ? join(outDir, 'model_best.pth.tar') : last;
  if (!existsSync(best)) throw new Error(`training finished but wrote neither model_best.pth.tar nor last.pth.tar in ${outDir}`);
  await requireFreeSpace(runDir, options.minFreeBytes, 'the ONNX export does not start');
  ctx.progress(epochsDone, req.recipe.epochs, 'exporting the best checkpoint to ONNX');
  const exportDir = join(runDir, 'export');
  const r = req.recipe;
  const exporter = runChild(
    [options.python, EXPORT_SCRIPT, '--checkpoint', best, '--model', r.model, '--num-classes', String(req.numClasses), '--img-size', String(r.img_size),
      '--crop-pct', String(r.crop_pct), '--interpolation', r.interpolation === 'random' ? 'bicubic' : r.interpolation, '--classes', join(runDir, 'classes.json'), '--out', exportDir],
    { cwd: runDir, env: { ...process.env, PYTHONUNBUFFERED: '1' }, logFile: join(runDir, 'export.log') },
  );
  const stopExport = (): void => void exporter.stop();
  ctx.signal.addEventListener('abort', stopExport, { once: true });
  const exportExit = await exporter.exited;
  ctx.signal.removeEventListener('abort', stopExport);
  if (ctx.signal.aborted) throw ctx.signal.reason;
  if (exportExit.code !== 0) throw new Error(`ONNX export of ${best} failed (code ${exportExit.code}); last output:\n${exporter.tail(12)}`);
  const rows = [...latestPerEpoch(await readRows(summaryFile)).values()];
  const bestRow = rows.reduce<Record<string, number> | null>((b, row) => (b === null || (row['eval_top1'] ?? -1) > (b['eval_top1'] ?? -1) ? row : b), null);
  const results: Record<string, number> = { epochs: rows.length };
  if (bestRow) {
    for (const [k, v] of Object.entries(bestRow)) if (k.startsWith('eval_')) results[`best_${k.slice(5)}`] = v;
    results['best_epoch'] = bestRow['epoch']!;
  }
  await board.update(runId, { backend: 'timm', artifactUri: exportDir, results });
  return `trained ${rows.length} epochs; best top-1 ${results['best_top1']?.toFixed(2) ?? '?'} (epoch ${results['best_epoch'] ?? '?'}); ONNX in ${exportDir}`;

  /** Emits the epochs of summary.csv not emitted yet (or rewritten: a resumed epoch's later row wins); returns the epochs done. */
  async function takeRows(_seen: number): Promise<number> {
    const byEpoch = latestPerEpoch(await readRows(summaryFile));
    for (const [epoch, row] of byEpoch) {
      const signature = JSON.stringify(row);
      if (emitted.get(epoch) === signature) continue;
      emitted.set(epoch, signature);
      board.metrics(runId, req.shiftId, summaryMetrics(row, updatesPerEpoch));
      await board.update(runId, { backend: 'timm', epoch: epoch + 1, step: (epoch + 1) * Math.max(1, updatesPerEpoch) });
      ctx.progress(byEpoch.size, req.recipe.epochs, `epoch ${epoch} done: val top-1 ${row['eval_top1']?.toFixed(2) ?? '?'}`);
      lastVal = { epoch, top1: row['eval_top1'] };
      await ctx.checkpoint({ epochsDone: byEpoch.size });
    }
    return byEpoch.size;
  }
}

/** summary.csv rows by epoch, the last row of an epoch winning (a resume repeats the epochs after last.pth.tar). */
export function latestPerEpoch(rows: Array<Record<string, number>>): Map<number, Record<string, number>> {
  const out = new Map<number, Record<string, number>>();
  for (const row of rows) out.set(row['epoch']!, row);
  return new Map([...out].sort((a, b) => a[0] - b[0]));
}

/**
 * Kills the process group of a training command an earlier trainer process started (pid file) when it still runs
 * this run (its command line names the run folder), and waits until it is gone.
 */
async function stopOrphan(pidFile: string, runDir: string, logger: JobContext<unknown, unknown>['logger']): Promise<void> {
  const pid = Number(await readFile(pidFile, 'utf8').catch(() => ''));
  if (!Number.isInteger(pid) || pid <= 1) return;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!cmdline.includes(runDir)) return;
  logger.warn({ pid }, 'a training process of this run from an earlier trainer is still running; stopping it');
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    try {
      process.kill(-pid, signal);
    } catch {
      return;
    }
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 100));
      if (!existsSync(`/proc/${pid}`)) return;
    }
  }
}

/** A shift with fewer shards is copied (JPEG bytes unchanged) into this many shards, so whole shards can be held out. */
const RESHARD_BELOW = 2;
const RESHARD_INTO = 10;

/**
 * The validation split is made of whole shards (what timm's --val-split reads): a one-shard shift is copied into
 * RESHARD_INTO shards in the run directory first (by ShiftWriter: same samples, same order, images byte for byte).
 */
async function reshard(shift: ShiftInfo, dir: string, signal: AbortSignal, into: number): Promise<ShiftInfo> {
  const done = await readShiftInfo(dir, { allowMissingClasses: true }).catch(() => null);
  if (done && done.samples === shift.samples && done.shards.length >= Math.min(into, shift.samples)) return { ...done, name: shift.name };
  await rm(dir, { recursive: true, force: true });
  const writer = await ShiftWriter.open(dir, {
    name: shift.name || 'shift',
    strategy: 'trainer-reshard',
    classes: shift.classes,
    maxSamplesPerShard: Math.max(1, Math.ceil(shift.samples / into)),
  });
  try {
    for await (const record of readClassShards({ shards: shift.shards.map((s) => join(shift.dir, s.name)), classes: shift.classes })) {
      if (signal.aborted) throw signal.reason;
      if (!record.ok) continue;
      await writer.add({ sourceId: record.sample.key, classIndex: record.sample.classIndex, image: record.sample.image.bytes });
    }
    await writer.close();
  } catch (err) {
    await writer.suspend().catch(() => undefined);
    throw err;
  }
  return { ...(await readShiftInfo(dir, { allowMissingClasses: true })), name: shift.name };
}

async function readRows(file: string): Promise<Array<Record<string, number>>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return [];
  }
  try {
    return parseSummary(text);
  } catch (err) {
    if (err instanceof SummaryFormatError) throw new Error(`${file}: ${err.message}`);
    throw err;
  }
}

/** The label names of the model's outputs: the shift's wnids, then placeholders up to num_classes. */
function paddedClasses(classes: string[], numClasses: number): string[] {
  return [...classes, ...Array.from({ length: numClasses - classes.length }, (_v, i) => `class_${classes.length + i}`)];
}

/** What torchrun runs: a Python script path (the interpreter prefix is dropped) or the command's own script. */
function launchable(script: string[], python: string): string[] {
  return script[0] === python || /^python[0-9.]*$/.test(basename(script[0] ?? '')) ? script.slice(1) : script;
}

