// `select benchmark`: the main job (README command one) against the services `select services up` started.
import { Option, type Command } from 'commander';
import { SERVICE_DEFINITIONS, SupervisorConfigError, loadServicesConfig } from '@select/supervisor';
import { CliError, EXIT_CODES } from '../errors.js';
import { followUntilInterrupted } from '../interrupt.js';
import { DEFAULT_POOL, MainJobSetupError, SHIFT_PLANS, runMainJob } from './main-job.js';

function wholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new CliError(`expected a whole number ≥ 0, got "${value}"`, { exitCode: EXIT_CODES.usage });
  return n;
}

function shiftList(value: string): string[] {
  const names = value.split(',').map((v) => v.trim()).filter(Boolean);
  const known = SHIFT_PLANS.map((p) => p.name);
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length > 0) throw new CliError(`--shifts: unknown ${unknown.join(', ')}; known: ${known.join(', ')}`, { exitCode: EXIT_CODES.usage });
  return names;
}

/** Adds `select benchmark` to the program; `setExitCode` receives the action's exit code. */
export function registerBenchmarkCommand(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('benchmark')
    .description('the main job: hold out an evaluation set, build shifts with several strategy chains, train, evaluate, leaderboard, report')
    .option('--config <file>', 'services config the services run with (default: select.services.json)')
    .option('--out <dir>', 'where shifts, the report and main-job.json go (default: .work/main-job)')
    .option('--pool <uri>', `pool location (default: ${DEFAULT_POOL.uri})`)
    .option('--pool-format <format>', `pool format (default: ${DEFAULT_POOL.format})`)
    .option('--pool-limit <n>', `records of the pool read (default: ${DEFAULT_POOL.limit}; 0: all)`, wholeNumber)
    .addOption(new Option('--shifts <names>', `comma-separated shifts to build (default: all: ${SHIFT_PLANS.map((p) => p.name).join(', ')})`).argParser(shiftList))
    .option('--text-model <name>', 'sentence encoder of the caption-similarity step (default: all-minilm-l6-v2, else the tiny fixture)')
    .option('--clip-model <name>', 'image-text model of the embedding service (default: tiny-clip)')
    .option('--knn-model <name>', 'image encoder of the SSL kNN evaluation (default: tiny-resnet)')
    .option('--diffusion-model <name>', 'Stable Diffusion export of the generation service (default: tiny-sd)')
    .option('--curation-only', 'stop after the shifts are built')
    .option('--id-prefix <prefix>', 'prefix of every shift, run and evaluation id (default: main); the same ids reuse finished jobs')
    .addHelpText(
      'after',
      `
Start the services first (\`select services up\`; ${SERVICE_DEFINITIONS.length} kinds): a service the config enables that is not
running stops the job before it starts (exit 3, with the command that starts it). A stage whose service is disabled
in the config (enabled: false) or whose curation step is missing is reported as "not available" and skipped; the job
exits 1 only if a stage failed. Running it again
with the same options reuses every finished shift, run and evaluation (same requests, same ids). Ctrl-C stops
only this command (exit 130): what it started goes on in the services, and running it again follows it.`,
    )
    .action(
      async (opts: {
        config?: string;
        out?: string;
        pool?: string;
        poolFormat?: string;
        poolLimit?: number;
        shifts?: string[];
        textModel?: string;
        clipModel?: string;
        knnModel?: string;
        diffusionModel?: string;
        curationOnly?: boolean;
        idPrefix?: string;
      }) => {
        let services;
        try {
          services = loadServicesConfig(SERVICE_DEFINITIONS, opts.config !== undefined ? { file: opts.config } : {});
        } catch (err) {
          if (err instanceof SupervisorConfigError) throw new CliError(err.message, { exitCode: EXIT_CODES.usage, cause: err });
          throw err;
        }
        // Ctrl-C ends this command only: what it started goes on in the services, and the same command finds it again.
        const interrupted = () =>
          'select benchmark: interrupted. The builds, runs and evaluations it started go on in the services.\n' +
          '  pick up where it stopped: run the same command again (same --id-prefix): it reuses everything finished and follows what is still running\n' +
          '  stop the work instead:    npx select services down';
        const report = await followUntilInterrupted(interrupted, () => runMainJob({
          services,
          ...(opts.config !== undefined ? { configFile: opts.config } : {}),
          ...(opts.out !== undefined ? { outDir: opts.out } : {}),
          pool: { uri: opts.pool ?? DEFAULT_POOL.uri, format: opts.poolFormat ?? DEFAULT_POOL.format, limit: opts.poolLimit ?? DEFAULT_POOL.limit },
          models: {
            ...(opts.textModel ? { text: opts.textModel } : {}),
            ...(opts.clipModel ? { clip: opts.clipModel } : {}),
            ...(opts.knnModel ? { knnEncoder: opts.knnModel } : {}),
            ...(opts.diffusionModel ? { diffusion: opts.diffusionModel } : {}),
          },
          ...(opts.shifts ? { shifts: opts.shifts } : {}),
          ...(opts.curationOnly ? { curationOnly: true } : {}),
          ...(opts.idPrefix ? { idPrefix: opts.idPrefix } : {}),
        })).catch((err: unknown) => {
          if (err instanceof MainJobSetupError) throw new CliError(err.message, { exitCode: EXIT_CODES.unavailable, hint: err.hint, cause: err });
          throw err;
        });
        setExitCode(report.stages.some((s) => s.outcome === 'failed') ? EXIT_CODES.failed : EXIT_CODES.ok);
      },
    );
}
