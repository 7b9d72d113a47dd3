// `select curate ...` (drives the curator over gRPC) and `select curator worker` (runs a worker).
import { resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { packageDefinition } from '@select/contracts';
import { curatorConfigSchema, runCuratorWorker } from '@select/curator';
import { createGrpcClient, GrpcCallError, resolveConfig, status, unary, type GenericServiceClient } from '@select/platform';
import { CliError, EXIT_CODES } from './errors.js';
import { addressArgument, followUntilInterrupted } from './interrupt.js';
import { formatTable } from './table-format.js';

const SERVICE = 'select.curation.v1.CuratorService';
const DEFAULT_ADDRESS = '127.0.0.1:50064';

interface JobStatusOut {
  jobId: string;
  state: string;
  done: string;
  total: string;
  unit: string;
  message: string;
  outputUri: string;
}

interface CommonOptions {
  address?: string;
  json?: boolean;
}

function addressOf(opts: CommonOptions): string {
  return opts.address ?? process.env['CURATOR_ADDRESS'] ?? DEFAULT_ADDRESS;
}

function client(opts: CommonOptions, deadlineMs = 60_000): GenericServiceClient {
  return createGrpcClient<GenericServiceClient>(packageDefinition('curation'), SERVICE, addressOf(opts), { defaultDeadlineMs: deadlineMs });
}

/** gRPC failures as CLI errors: the server's own message, the right exit code, how to start the curator. */
async function call<T>(opts: CommonOptions, method: string, request: unknown): Promise<T> {
  const c = client(opts);
  try {
    return await unary<T>(c, method, request);
  } catch (error) {
    throw cliErrorOf(error, opts);
  } finally {
    c.close();
  }
}

function cliErrorOf(error: unknown, opts: CommonOptions): CliError {
  if (error instanceof GrpcCallError) {
    if (error.code === status.UNAVAILABLE || error.code === status.DEADLINE_EXCEEDED) {
      return new CliError(`the curator at ${addressOf(opts)} did not answer: ${error.serverMessage || 'unavailable'}`, {
        exitCode: EXIT_CODES.unavailable,
        hint: 'Start it with `node packages/curator/dist/main.js` (or `select services up`), or pass --address / set CURATOR_ADDRESS.',
        cause: error,
      });
    }
    return new CliError(error.serverMessage || error.message, { exitCode: error.code === status.INVALID_ARGUMENT ? EXIT_CODES.usage : EXIT_CODES.failed, cause: error });
  }
  return error instanceof CliError ? error : new CliError((error as Error).message, { cause: error });
}

/**
 * The shift a user means: the id itself, else the one known shift whose id starts with what was given. A shift's
 * id is its name and a hash, so `select curate show la1000-txt2img` finds `la1000-txt2img-3f2a…`. Several: an
 * error naming them; none: the id as given (the curator's NOT_FOUND says so).
 */
async function resolveShiftId(given: string, opts: CommonOptions): Promise<string> {
  const { shifts } = await call<{ shifts: Array<{ shiftId: string }> }>(opts, 'ListShifts', {});
  const ids = shifts.map((s) => s.shiftId);
  if (ids.includes(given)) return given;
  const matches = ids.filter((id) => id.startsWith(given));
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) {
    throw new CliError(`"${given}" could be ${matches.length} shifts: ${matches.slice(0, 8).join(', ')}${matches.length > 8 ? ', …' : ''}; give more of the id`, { exitCode: EXIT_CODES.usage });
  }
  return given;
}

function write(text: string): void {
  process.stdout.write(text);
}

function wholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number ≥ 0');
  return n;
}

/** `--step name` or `--step 'name:{"json":"params"}'`, repeatable, in chain order. */
function collectStep(value: string, previous: Array<{ name: string; paramsJson: string }> = []): Array<{ name: string; paramsJson: string }> {
  const colon = value.indexOf(':');
  const name = colon === -1 ? value : value.slice(0, colon);
  const paramsJson = colon === -1 ? '{}' : value.slice(colon + 1);
  try {
    JSON.parse(paramsJson);
  } catch {
    throw new InvalidArgumentError(`the parameters of step ${name} are not JSON: ${paramsJson}`);
  }
  return [...previous, { name: name.trim(), paramsJson }];
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** A job's count as people read it: `2,500/10,000 candidates`, without `/total` while it is unknown. */
function countText(job: JobStatusOut): string {
  const total = Number(job.total);
  return `${Number(job.done).toLocaleString('en-US')}${total > 0 ? `/${total.toLocaleString('en-US')}` : ''} ${job.unit || 'candidates'}`;
}

/** `[#######.......]  45.0%  4,500/10,000 candidates  1,234/s  ETA 0:05  message` */
export function progressLine(job: JobStatusOut, ratePerS: number, width = 28): string {
  const done = Number(job.done);
  const total = Number(job.total);
  const fraction = total > 0 ? Math.min(1, done / total) : 0;
  const filled = Math.round(fraction * width);
  const bar = total > 0 ? `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(1).padStart(5)}%` : '[working]';
  const eta = total > 0 && ratePerS > 0 && done < total ? formatDuration((total - done) / ratePerS) : '-';
  return `${bar}  ${countText(job)}  ${Math.round(ratePerS).toLocaleString('en-US')}/s  ETA ${eta}  ${job.message}`;
}

/**
 * A progress line cut to the terminal's width (one column spare, ending in …): a line that wraps cannot be
 * redrawn in place (`\r` returns to its last row only), and a long message (a pool's path) would leave a copy of
 * the line on the screen at every update.
 */
export function fitToWidth(line: string, columns: number | undefined): string {
  const width = (columns ?? 0) > 1 ? columns! - 1 : 0;
  const chars = [...line];
  if (width === 0 || chars.length <= width) return line;
  return `${chars.slice(0, width - 1).join('')}…`;
}

function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

const TERMINAL = new Set(['JOB_STATE_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED']);

const SHIFT_ID_HELP = 'the shift id, or the start of it when only one shift id starts so (e.g. its name)';

/** An unfinished build's job in a line or two: its progress and what to do next. */
function jobSummary(job: JobStatusOut, shiftId: string, opts: CommonOptions): string {
  const address = addressArgument(opts.address);
  const state = job.state.replace('JOB_STATE_', '').toLowerCase();
  const count = countText(job);
  if (job.state === 'JOB_STATE_RUNNING' || job.state === 'JOB_STATE_QUEUED') {
    return `${state}: ${count} — ${job.message}\nfollow it: select curate watch ${shiftId}${address}`;
  }
  return `${state} at ${count}: ${job.message}\nresume it (committed tasks are kept): select curate resume ${shiftId}${address}`;
}

/**
 * Follows WatchJob to the end: a progress bar on a terminal, JSON lines with --json, a line per change otherwise.
 * Ctrl-C stops following only: the build goes on in the curator, and the command prints how to follow or cancel it.
 */
function watch(jobId: string, opts: CommonOptions): Promise<JobStatusOut> {
  const address = addressArgument(opts.address);
  return followUntilInterrupted(
    () =>
      `select: stopped following ${jobId}; the build goes on in the curator.\n` +
      `  follow it again: select curate watch ${jobId}${address}\n  cancel it:       select curate cancel ${jobId}${address}`,
    () => watchJob(jobId, opts),
  );
}

async function watchJob(jobId: string, opts: CommonOptions): Promise<JobStatusOut> {
  const c = client(opts, 0);
  const tty = process.stderr.isTTY && opts.json !== true;
  let last: JobStatusOut | undefined;
  let rate = 0;
  let previous: { done: number; at: number } | undefined;
  let printedAt = 0;
  try {
    const stream = (c as unknown as { WatchJob(req: unknown): AsyncIterable<JobStatusOut> }).WatchJob({ jobId });
    for await (const job of stream) {
      last = job;
      const now = Date.now();
      const done = Number(job.done);
      if (previous !== undefined && now > previous.at && done >= previous.done) {
        const instant = ((done - previous.done) * 1000) / (now - previous.at);
        rate = rate === 0 ? instant : 0.7 * rate + 0.3 * instant;
      }
      previous = { done, at: now };
      if (opts.json === true) write(`${JSON.stringify(job)}\n`);
      else if (tty) process.stderr.write(`\r\x1b[2K${fitToWidth(progressLine(job, rate), process.stderr.columns)}`);
      else if (now - printedAt > 2000 || TERMINAL.has(job.state)) {
        process.stderr.write(`${progressLine(job, rate)}\n`);
        printedAt = now;
      }
      if (TERMINAL.has(job.state)) break;
    }
  } catch (error) {
    throw cliErrorOf(error, opts);
  } finally {
    if (tty) process.stderr.write('\n');
    c.close();
  }
  if (last === undefined) throw new CliError(`no status for ${jobId}`);
  return last;
}

function finish(job: JobStatusOut, opts: CommonOptions, state: { exitCode: number }): void {
  if (opts.json !== true) write(`${job.jobId}: ${job.state.replace('JOB_STATE_', '').toLowerCase()} — ${job.message}\n${job.outputUri ? `shift folder: ${job.outputUri}\n` : ''}`);
  state.exitCode = job.state === 'JOB_STATE_SUCCEEDED' || job.state === 'JOB_STATE_RUNNING' || job.state === 'JOB_STATE_QUEUED' ? EXIT_CODES.ok : EXIT_CODES.failed;
}

function withCommon(command: Command): Command {
  return command
    .option('--address <host:port>', `the curator (default: CURATOR_ADDRESS, else ${DEFAULT_ADDRESS})`)
    .option('--json', 'machine-readable output (JSON; one status per line while watching)');
}

interface StartOptions extends CommonOptions {
  name: string;
  pool?: string;
  format?: string;
  poolName?: string;
  step?: Array<{ name: string; paramsJson: string }>;
  labels?: string[];
  classDescriptions?: string;
  hierarchy?: string;
  images?: string;
  limit?: number;
  wnids?: string;
  maxPerClass?: number;
  taskSize?: number;
  seed?: number;
  output?: string;
  shiftId?: string;
  dryRun?: boolean;
  skipGate?: string;
  watch?: boolean;
}

/** Adds `select curate` and `select curator worker` to the program. */
export function registerCurateCommands(program: Command, state: { exitCode: number }): void {
  const curate = program
    .command('curate')
    .description('build shifts with the curator: start, watch, cancel, resume, list; strategies lists the chain steps');

  withCommon(
    curate
      .command('start')
      .description('start a build (a chain: a strategy, then filters) and, with --watch, follow it to the end')
      .requiredOption('--name <name>', 'shift name, e.g. la1000-txt2img')
      .option('--pool <path>', 'pool folder or file (openclipart root, OpenImages folder, shard pattern, captions.jsonl, shift folder); leave out for sd-txt2img / sd-img2img, which generate theirs')
      .addOption(new Option('--format <format>', 'pool format (with --pool)').choices(['openclipart', 'openimages', 'webdataset', 'captions-jsonl', 'shift']))
      .option('--step <name[:json]>', 'a chain step and its parameters as JSON, repeatable in chain order (see `select curate strategies`)', collectStep)
      .option('--pool-name <name>', "the pool's name in the decisions' source column (default: the format)")
      .option('--labels <csv>', 'openimages: an image-level label CSV, repeatable (human-verified, machine-generated)', collect)
      .option('--class-descriptions <csv>', 'openimages: the MID -> display name CSV')
      .option('--hierarchy <json>', 'openimages: the class hierarchy JSON')
      .option('--images <dir>', 'openimages: the folder of <ImageID>.jpg (default: --pool)')
      .option('--limit <n>', 'read at most n pool records', wholeNumber)
      .option('--wnids <list>', 'comma-separated classes to fill (default: all 1000)')
      .option('--max-per-class <n>', 'keep the best-scored n per class (0: no cap)', wholeNumber)
      .option('--task-size <n>', 'pool records per shard task (default: the service default, 1000)', wholeNumber)
      .option('--seed <n>', 'build seed', wholeNumber)
      .option('--output <dir>', 'shift folder (default: <curator data dir>/shifts/<shift id>)')
      .option('--shift-id <id>', 'give the shift this id instead of the derived one')
      .option('--dry-run', 'decide every candidate and count; write no images')
      .option('--skip-gate <reason>', 'publish without a contamination-gate step; the reason is recorded with the shift (required when the chain has no gate)')
      .option('--watch', 'follow the build with a progress bar until it ends'),
  ).action(async (opts: StartOptions) => {
    const steps = opts.step ?? [];
    if (steps.length === 0) throw new CliError('give the chain with --step (e.g. --step substring-match); `select curate strategies` lists them', { exitCode: EXIT_CODES.usage });
    if ((opts.pool === undefined) !== (opts.format === undefined)) {
      throw new CliError('give --pool and --format together (or neither, for sd-txt2img / sd-img2img, which generate their pool)', { exitCode: EXIT_CODES.usage });
    }
    const request = {
      shiftName: opts.name,
      pool: {
        uri: opts.pool === undefined ? '' : resolve(opts.pool),
        format: opts.format ?? '',
        name: opts.poolName ?? '',
        labelUris: (opts.labels ?? []).map((l) => resolve(l)),
        classDescriptionsUri: opts.classDescriptions ? resolve(opts.classDescriptions) : '',
        hierarchyUri: opts.hierarchy ? resolve(opts.hierarchy) : '',
        imagesUri: opts.images ? resolve(opts.images) : '',
        limit: String(opts.limit ?? 0),
      },
      steps,
      wnids: opts.wnids ? opts.wnids.split(',').map((w) => w.trim()).filter(Boolean) : [],
      maxPerClass: opts.maxPerClass ?? 0,
      taskSize: opts.taskSize ?? 0,
      seed: opts.seed ?? 0,
      outputUri: opts.output ? resolve(opts.output) : '',
      shiftId: opts.shiftId ?? '',
      dryRun: opts.dryRun === true,
      gateOverrideReason: opts.skipGate ?? '',
    };
    const started = await call<JobStatusOut>(opts, 'StartCuration', request);
    if (opts.watch !== true) {
      if (opts.json === true) write(`${JSON.stringify(started)}\n`);
      else write(`started ${started.jobId} (${started.state.replace('JOB_STATE_', '').toLowerCase()}); follow it with: select curate watch ${started.jobId}\n`);
      return;
    }
    finish(await watch(started.jobId, opts), opts, state);
  });

  withCommon(curate.command('watch').description('follow a build: progress bar with rate and ETA, until it ends').argument('<shift-id>', SHIFT_ID_HELP)).action(
    async (shiftId: string, opts: CommonOptions) => finish(await watch(await resolveShiftId(shiftId, opts), opts), opts, state),
  );

  withCommon(curate.command('cancel').description('cancel a build; its committed tasks are kept for resume').argument('<shift-id>', SHIFT_ID_HELP)).action(async (shiftId: string, opts: CommonOptions) => {
    const job = await call<JobStatusOut>(opts, 'CancelJob', { jobId: await resolveShiftId(shiftId, opts) });
    if (opts.json === true) write(`${JSON.stringify(job)}\n`);
    else write(`${job.jobId}: ${job.state.replace('JOB_STATE_', '').toLowerCase()}\n`);
  });

  withCommon(
    curate.command('resume').description('start a cancelled, failed or interrupted build again from its committed tasks').argument('<shift-id>', SHIFT_ID_HELP).option('--watch', 'follow it'),
  ).action(async (shiftId: string, opts: CommonOptions & { watch?: boolean }) => {
    const job = await call<JobStatusOut>(opts, 'ResumeCuration', { shiftId: await resolveShiftId(shiftId, opts) });
    if (opts.watch === true) finish(await watch(job.jobId, opts), opts, state);
    else if (opts.json === true) write(`${JSON.stringify(job)}\n`);
    else write(`${job.jobId}: ${job.state.replace('JOB_STATE_', '').toLowerCase()}\n`);
  });

  withCommon(curate.command('list').description('the shifts the curator knows: state, samples, classes, folder')).action(async (opts: CommonOptions) => {
    const { shifts } = await call<{ shifts: Array<Record<string, string | number | boolean>> }>(opts, 'ListShifts', {});
    if (opts.json === true) {
      write(`${JSON.stringify(shifts, null, 2)}\n`);
      return;
    }
    const rows = shifts.map((s) => [
      String(s['shiftId']),
      String(s['strategy']),
      String(s['state']).replace('JOB_STATE_', '').toLowerCase(),
      s['dryRun'] === true ? 'dry run' : '',
      String(s['samples']),
      String(s['classes']),
      String(s['candidates']),
      String(s['uri']),
    ]);
    write(formatTable([{ name: 'shift' }, { name: 'chain' }, { name: 'state' }, { name: 'mode' }, { name: 'samples' }, { name: 'classes' }, { name: 'candidates' }, { name: 'folder' }], rows, { maxCellWidth: 0 }));
  });

  withCommon(
    curate.command('show').description("one shift with its samples per class; an unfinished build's progress, or why it failed").argument('<shift-id>', SHIFT_ID_HELP),
  ).action(async (given: string, opts: CommonOptions) => {
    const shiftId = await resolveShiftId(given, opts);
    const shift = await call<{ classCounts: Array<{ classIndex: number; wnid: string; count: string }> } & Record<string, unknown>>(opts, 'GetShift', { shiftId });
    // A build that has not succeeded: its job says where it is (running) or why it stopped (failed, cancelled).
    const job = shift['state'] === 'JOB_STATE_SUCCEEDED' ? undefined : await call<JobStatusOut>(opts, 'GetJob', { jobId: String(shift['jobId'] || shiftId) }).catch(() => undefined);
    if (opts.json === true) {
      write(`${JSON.stringify(job === undefined ? shift : { ...shift, job }, null, 2)}\n`);
      return;
    }
    write(`${String(shift['shiftId'])}: ${String(shift['samples'])} samples in ${String(shift['classes'])} classes (${String(shift['state'])})\nfolder: ${String(shift['uri'])}\n`);
    if (job !== undefined) write(`${jobSummary(job, shiftId, opts)}\n`);
    if (job !== undefined && shift.classCounts.length === 0) return; // nothing published yet: no empty table
    write(formatTable([{ name: 'class' }, { name: 'wnid' }, { name: 'samples' }], shift.classCounts.map((c) => [String(c.classIndex), c.wnid, c.count]), { maxCellWidth: 0 }));
  });

  withCommon(curate.command('strategies').description('the chain steps: what each does, which ImageNet++ shift it reproduces, its parameters')).action(async (opts: CommonOptions) => {
    const { strategies } = await call<{
      strategies: Array<{ name: string; role: string; paperShift: string; description: string; params: Array<{ name: string; type: string; defaultJson: string; range: string; description: string }> }>;
    }>(opts, 'ListStrategies', {});
    if (opts.json === true) {
      write(`${JSON.stringify(strategies, null, 2)}\n`);
      return;
    }
    for (const s of strategies) {
      write(`${s.name} (${s.role}${s.paperShift ? `; ${s.paperShift}` : ''})\n  ${s.description}\n`);
      for (const p of s.params) write(`    ${p.name}: ${p.type}${p.defaultJson ? ` = ${p.defaultJson}` : ''}${p.range ? ` ${p.range}` : ''} — ${p.description}\n`);
    }
  });

  program
    .command('curator')
    .description('curator processes')
    .command('worker')
    .description('run a curator worker in the foreground: takes shard tasks from Kafka (CURATOR_* and KAFKA_BROKERS configure it); Ctrl-C leaves the group')
    .action(async () => {
      await runCuratorWorker(resolveConfig(curatorConfigSchema));
      // The worker runs until a signal; its own handler exits the process.
      await new Promise(() => undefined);
    });
}
