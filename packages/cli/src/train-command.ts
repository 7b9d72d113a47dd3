// `select train ...`: drives the trainer service (select.trainer.v1) over gRPC — start a run on a shift, follow
// it, list, get, cancel, resume, show the named recipes.
import { resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { packageDefinition } from '@select/contracts';
import { createGrpcClient, GrpcCallError, status, unary, type GenericServiceClient } from '@select/platform';
import { CliError, EXIT_CODES } from './errors.js';
import { addressArgument, followUntilInterrupted } from './interrupt.js';
import { formatTable } from './table-format.js';

const SERVICE = 'select.trainer.v1.TrainerService';
const DEFAULT_ADDRESS = '127.0.0.1:50065';
const TERMINAL = new Set(['JOB_STATE_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED']);

interface Opts {
  address?: string;
  json?: boolean;
}

interface RunOut {
  runId: string;
  shiftId: string;
  state: string;
  epoch: number;
  epochs: number;
  message: string;
  backend: string;
  outputUri: string;
  artifactUri: string;
  results: Record<string, number>;
}

interface UpdateOut {
  run?: RunOut;
  metric: string;
  value: number;
  step: string;
  epoch: number;
  split: string;
}

const addressOf = (o: Opts): string => o.address ?? process.env['TRAINER_ADDRESS'] ?? DEFAULT_ADDRESS;
const client = (o: Opts, deadlineMs = 60_000): GenericServiceClient =>
  createGrpcClient<GenericServiceClient>(packageDefinition('trainer'), SERVICE, addressOf(o), { defaultDeadlineMs: deadlineMs });

function cliError(error: unknown, o: Opts): CliError {
  if (error instanceof GrpcCallError || (error as { code?: number }).code !== undefined) {
    const e = error as GrpcCallError & { details?: string };
    if (e.code === status.UNAVAILABLE || e.code === status.DEADLINE_EXCEEDED) {
      return new CliError(`the trainer at ${addressOf(o)} did not answer: ${e.serverMessage || e.details || 'unavailable'}`, {
        exitCode: EXIT_CODES.unavailable,
        hint: 'Start it with `node packages/trainer-service/dist/main.js` (or `select services up`), or pass --address / set TRAINER_ADDRESS.',
        cause: error,
      });
    }
    return new CliError(e.serverMessage || e.details || e.message, { exitCode: e.code === status.INVALID_ARGUMENT ? EXIT_CODES.usage : EXIT_CODES.failed, cause: error });
  }
  return error instanceof CliError ? error : new CliError((error as Error).message, { cause: error });
}

async function call<T>(o: Opts, method: string, request: unknown): Promise<T> {
  const c = client(o);
  try {
    return await unary<T>(c, method, request);
  } catch (error) {
    throw cliError(error, o);
  } finally {
    c.close();
  }
}

const write = (text: string): void => void process.stdout.write(text);
const stateName = (s: string): string => s.replace('JOB_STATE_', '').toLowerCase();

function number(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError('expected a number');
  return n;
}

function describeRun(r: RunOut): string {
  const results = Object.entries(r.results ?? {})
    .map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toFixed(4)}`)
    .join(' ');
  return [
    `${r.runId} (${r.backend}, shift ${r.shiftId}): ${stateName(r.state)} — ${r.message}`,
    r.backend === 'timm' ? `epochs: ${r.epoch}/${r.epochs}` : '',
    results ? `results: ${results}` : '',
    r.artifactUri ? `artifact: ${r.artifactUri}` : '',
    `run folder: ${r.outputUri}`,
  ]
    .filter(Boolean)
    .join('\n')
    .concat('\n');
}

/**
 * Follows WatchRun to the end: a line per epoch-level metric and per state change (JSON lines with --json).
 * Ctrl-C stops following only: the run goes on in the trainer, and the command prints how to follow or cancel it.
 */
function follow(runId: string, o: Opts): Promise<RunOut> {
  const address = addressArgument(o.address);
  return followUntilInterrupted(
    () =>
      `select: stopped following run ${runId}; it goes on in the trainer.\n` +
      `  follow it again: select train watch ${runId}${address}\n  cancel it:       select train cancel ${runId}${address}`,
    () => followRun(runId, o),
  );
}

async function followRun(runId: string, o: Opts): Promise<RunOut> {
  const c = client(o, 0);
  let last: RunOut | undefined;
  try {
    const stream = (c as unknown as { WatchRun(req: unknown): AsyncIterable<UpdateOut> }).WatchRun({ runId });
    for await (const u of stream) {
      if (o.json === true) write(`${JSON.stringify(u)}\n`);
      if (u.run && !u.metric) {
        last = u.run;
        if (o.json !== true) process.stderr.write(`${stateName(u.run.state)}: ${u.run.message}\n`);
        if (TERMINAL.has(u.run.state)) break;
      } else if (o.json !== true && (u.split !== 'train' || u.metric.startsWith('epoch_'))) {
        process.stderr.write(`  epoch ${u.epoch} step ${u.step}  ${u.split} ${u.metric} = ${u.value.toFixed(4)}\n`);
      }
    }
  } catch (error) {
    throw cliError(error, o);
  } finally {
    c.close();
  }
  if (!last) throw new CliError(`no status for run ${runId}`);
  return last;
}

function finish(run: RunOut, o: Opts, state: { exitCode: number }): void {
  if (o.json !== true) write(describeRun(run));
  state.exitCode = ['JOB_STATE_FAILED', 'JOB_STATE_CANCELLED'].includes(run.state) ? EXIT_CODES.failed : EXIT_CODES.ok;
}

function common(cmd: Command): Command {
  return cmd
    .addOption(new Option('--address <host:port>', `trainer address (default: TRAINER_ADDRESS, else ${DEFAULT_ADDRESS})`))
    .addOption(new Option('--json', 'JSON output for scripts'));
}

/** `select train start|watch|get|list|cancel|resume|recipes`. */
export function registerTrainCommands(program: Command, state: { exitCode: number }): void {
  const train = program.command('train').description('training runs on shifts: timm, linear probe, kNN bank (the trainer service over gRPC)');
  common(
    train
      .command('start')
      .description('start (or find again: same request, same run) a run on a shift; follows it unless --detach')
      .argument('<shift>', 'shift directory (written by ShiftWriter)')
      .addOption(new Option('--backend <name>', 'timm, linear-probe or knn-bank').default('timm'))
      .option('--recipe <name>', 'named recipe (timm): select, select-sd1000, select-laion1000, cpu-tiny', '')
      .option('--run-id <id>', 'run id (default: derived from the request)', '')
      .option('--epochs <n>', 'override the recipe epochs', number)
      .option('--model <name>', 'override the recipe model (timm name)')
      .option('--img-size <n>', 'override the recipe image size', number)
      .option('--batch-size <n>', 'override the recipe batch size', number)
      .option('--lr <x>', 'override the recipe learning rate', number)
      .option('--seed <n>', 'seed (recipe, probe splits, bank draws)', number)
      .option('--val <dir>', 'timm: a separate validation shift (default: shards of the shift held out)')
      .option('--embedding-model <name>', 'linear-probe / knn-bank: embedding service model')
      .option('--features <dir>', 'linear-probe / knn-bank: an embedding dataset job output of the shift')
      .option('--protocol <name>', 'linear-probe: clip, clip-benchmark or both', 'both')
      .option('--bank-size <n>', 'knn-bank: vectors in the bank (per class = size // classes)', number)
      .option('--index <name>', 'knn-bank: retrieval index name')
      .option('--allow-missing-classes', 'train even when classes of the label space have no samples')
      .option('--detach', 'return once the run is started'),
  ).action(async (shift: string, o: Opts & Record<string, unknown>) => {
    const recipe: Record<string, unknown> = {};
    for (const [opt, field] of [['epochs', 'epochs'], ['model', 'model'], ['imgSize', 'imgSize'], ['batchSize', 'batchSize'], ['lr', 'lr'], ['seed', 'seed']] as const) {
      if (o[opt] !== undefined) recipe[field] = o[opt];
    }
    const started = await call<RunOut>(o, 'StartTraining', {
      runId: o['runId'],
      shiftUri: resolve(shift),
      backend: o['backend'],
      recipeName: o['recipe'],
      recipe,
      valUri: o['val'] ? resolve(String(o['val'])) : '',
      embeddingModel: o['embeddingModel'] ?? '',
      featuresUri: o['features'] ? resolve(String(o['features'])) : '',
      linearProbe: { protocol: o['protocol'] },
      knnBank: { total: o['bankSize'] ?? 0, index: o['index'] ?? '' },
      allowMissingClasses: o['allowMissingClasses'] === true,
    });
    finish(o['detach'] === true ? started : await follow(started.runId, o), o, state);
  });
  common(train.command('watch').description('follow a run until it ends').argument('<run-id>')).action(async (runId: string, o: Opts) => finish(await follow(runId, o), o, state));
  common(train.command('get').description('a run: state, epochs, results, artifact').argument('<run-id>')).action(async (runId: string, o: Opts) => {
    const run = await call<RunOut>(o, 'GetRun', { runId });
    if (o.json === true) write(`${JSON.stringify(run)}\n`);
    finish(run, o, state);
  });
  common(train.command('cancel').description('stop a run (resumable); exits 0 once the trainer has it stopped').argument('<run-id>')).action(async (runId: string, o: Opts) => {
    // the run ends "cancelled", which `finish` counts as a failed end; the cancel itself did what was asked
    finish(await call<RunOut>(o, 'CancelRun', { runId }), o, state);
    state.exitCode = EXIT_CODES.ok;
  });
  common(train.command('resume').description('continue a cancelled or failed run from its last checkpoint').argument('<run-id>').option('--detach', 'do not follow')).action(
    async (runId: string, o: Opts & { detach?: boolean }) => {
      const run = await call<RunOut>(o, 'ResumeRun', { runId });
      finish(o.detach === true ? run : await follow(run.runId, o), o, state);
    },
  );
  common(train.command('list').description('every run of the trainer').option('--shift <id>', 'only this shift').option('--backend <name>', 'only this backend')).action(
    async (o: Opts & { shift?: string; backend?: string }) => {
      const { runs } = await call<{ runs: RunOut[] }>(o, 'ListRuns', { shiftId: o.shift ?? '', backend: o.backend ?? '' });
      if (o.json === true) return write(`${JSON.stringify(runs)}\n`);
      write(formatTable(['run', 'backend', 'shift', 'state', 'progress', 'message'].map((name) => ({ name })), runs.map((r) => [r.runId, r.backend, r.shiftId, stateName(r.state), r.backend === 'timm' ? `${r.epoch}/${r.epochs}` : '', r.message.split('\n')[0]!.slice(0, 80)])));
    },
  );
  common(train.command('recipes').description('the named recipes with every value')).action(async (o: Opts) => {
    const { recipes } = await call<{ recipes: Array<{ name: string; description: string; recipe: Record<string, unknown> }> }>(o, 'ListRecipes', {});
    if (o.json === true) return write(`${JSON.stringify(recipes)}\n`);
    const show = (v: unknown): string => (typeof v === 'number' ? String(Number(v.toPrecision(6))) : String(v));
    for (const r of recipes) write(`${r.name}: ${r.description}\n  ${Object.entries(r.recipe).map(([k, v]) => `${k}=${show(v)}`).join(' ')}\n`);
  });
}
