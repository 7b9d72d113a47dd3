// `select services up|down|status|logs`: every service of the system as its own detached process, configured by
// select.services.json (packages/supervisor). The commands share nothing but the pid and log files, so each
// may run from a different shell, and after the one that started the services has exited.
import { Option, type Command } from 'commander';
import {
  SERVICE_DEFINITIONS,
  Supervisor,
  SupervisorConfigError,
  SupervisorError,
  loadServicesConfig,
  type InstanceStatus,
  type ResolvedServicesConfig,
} from '@select/supervisor';
import { CliError, EXIT_CODES } from './errors.js';
import { parseOutputFormat, type OutputFormat } from './sql-command.js';
import { formatTable } from './table-format.js';

const HELP = `
Services: ${SERVICE_DEFINITIONS.map((d) => d.name).join(', ')}.
Config: select.services.json at the repository root (or --config FILE): ports, model directories, data folders;
every option has a default (packages/supervisor/README.md). Logs: .work/services/logs/<name>.log; pid files:
.work/services/run/<name>.json. Kafka and ClickHouse come from the environment (KAFKA_BROKERS, CLICKHOUSE_URL, ...).`;

interface CommonOptions {
  config?: string;
}

function configOption(): Option {
  return new Option('--config <file>', 'services config (default: select.services.json at the repository root, else the built-in defaults)');
}

function loadSupervisor(options: CommonOptions, progress = true): Supervisor {
  let config: ResolvedServicesConfig;
  try {
    config = loadServicesConfig(SERVICE_DEFINITIONS, options.config !== undefined ? { file: options.config } : {});
  } catch (err) {
    if (err instanceof SupervisorConfigError) throw new CliError(err.message, { exitCode: EXIT_CODES.usage, cause: err });
    throw err;
  }
  return new Supervisor(config, progress ? { onProgress: (instance, message) => process.stdout.write(`${instance}: ${message}\n`) } : {});
}

async function guarded<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof SupervisorError) throw new CliError(err.message, { cause: err });
    throw err;
  }
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new CliError(`--timeout: expected seconds ≥ 0, got "${value}"`, { exitCode: EXIT_CODES.usage });
  return n;
}

function wholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new CliError(`expected a whole number ≥ 0, got "${value}"`, { exitCode: EXIT_CODES.usage });
  return n;
}

function uptime(ms: number | undefined): string {
  if (ms === undefined) return '-';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Whether `status` counts the row as fine: healthy, or a service that is deliberately not there. */
export function statusIsFine(row: InstanceStatus): boolean {
  return row.state === 'healthy' || row.state === 'external' || row.state === 'not built' || row.state === 'disabled';
}

/** Adds `select services ...` to the program; `setExitCode` receives each action's exit code. */
export function registerServicesCommand(program: Command, setExitCode: (code: number) => void): void {
  const services = program
    .command('services')
    .description('every service as its own process: start, stop, health, logs (select.services.json)')
    .addHelpText('after', HELP);

  services
    .command('up')
    .description('start every service (or the named ones and what they depend on) and wait until each is healthy; idempotent')
    .argument('[names...]', 'services or processes (curator-worker-2); default: all')
    .addOption(configOption())
    .action(async (names: string[], opts: CommonOptions) => {
      const supervisor = loadSupervisor(opts);
      const results = await guarded(() => supervisor.up(names));
      const rows = results.map((r) => [r.instance, r.outcome, r.pid ?? '-', r.port ?? '-', r.detail.split('\n')[0]]);
      process.stdout.write(formatTable([{ name: 'process' }, { name: 'outcome' }, { name: 'pid' }, { name: 'port' }, { name: 'detail' }], rows, { footer: false, maxCellWidth: 0 }));
      for (const failed of results.filter((r) => r.outcome === 'failed' && r.detail.includes('\n'))) process.stdout.write(`\n${failed.instance}: ${failed.detail}\n`);
      const notBuilt = results.filter((r) => r.outcome === 'not built');
      if (notBuilt.length > 0) process.stdout.write(`not built (skipped): ${notBuilt.map((r) => r.instance).join(', ')}\n`);
      setExitCode(results.some((r) => r.outcome === 'failed' || r.outcome === 'skipped') ? EXIT_CODES.failed : EXIT_CODES.ok);
    });

  services
    .command('down')
    .description('stop every service (or the named ones), dependants first: SIGTERM, drain, SIGKILL after the timeout')
    .argument('[names...]', 'services or processes; default: all')
    .addOption(configOption())
    .option('--timeout <seconds>', "seconds between SIGTERM and SIGKILL (default: the config's stopTimeoutMs, 30 s)", seconds)
    .action(async (names: string[], opts: CommonOptions & { timeout?: number }) => {
      const supervisor = loadSupervisor(opts);
      const results = await guarded(() => supervisor.down(names, opts.timeout !== undefined ? { timeoutMs: opts.timeout * 1000 } : {}));
      const rows = results.filter((r) => r.outcome !== 'not running').map((r) => [r.instance, r.outcome, r.pid ?? '-', r.detail]);
      if (rows.length === 0) process.stdout.write('nothing was running\n');
      else process.stdout.write(formatTable([{ name: 'process' }, { name: 'outcome' }, { name: 'pid' }, { name: 'detail' }], rows, { footer: false, maxCellWidth: 0 }));
      setExitCode(EXIT_CODES.ok);
    });

  services
    .command('status')
    .description('each process with its state, pid, port, version, uptime and health; exits 0 only if every built, enabled one is healthy')
    .argument('[names...]', 'services or processes; default: all')
    .addOption(configOption())
    .addOption(new Option('--format <format>', 'output: table (for people) or json (for scripts)').default('table').argParser(parseOutputFormat))
    .action(async (names: string[], opts: CommonOptions & { format: OutputFormat }) => {
      const supervisor = loadSupervisor(opts, false);
      const rows = await guarded(() => supervisor.status(names));
      if (opts.format === 'json') {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      } else {
        const table = rows.map((r) => [r.instance, r.state, r.pid ?? '-', r.port ?? '-', r.version, uptime(r.uptimeMs), r.detail]);
        process.stdout.write(
          formatTable(
            [{ name: 'process' }, { name: 'state' }, { name: 'pid' }, { name: 'port' }, { name: 'version' }, { name: 'uptime' }, { name: 'detail' }],
            table,
            { footer: false, maxCellWidth: 0 },
          ),
        );
      }
      setExitCode(rows.every(statusIsFine) ? EXIT_CODES.ok : EXIT_CODES.failed);
    });

  services
    .command('logs')
    .description("print the last lines of a process's log; -f keeps printing new lines")
    .argument('<name>', 'a service or process (embedding, curator-worker-2)')
    .addOption(configOption())
    .option('-n, --lines <n>', 'lines to print', wholeNumber, 100)
    .option('-f, --follow', 'keep printing new lines until Ctrl-C')
    .action(async (name: string, opts: CommonOptions & { lines: number; follow?: boolean }) => {
      const supervisor = loadSupervisor(opts, false);
      process.stdout.write(await guarded(() => supervisor.tail(name, opts.lines)));
      if (opts.follow) {
        const stop = new AbortController();
        const onSignal = (): void => stop.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        try {
          await supervisor.follow(name, (text) => process.stdout.write(text), stop.signal);
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      }
      setExitCode(EXIT_CODES.ok);
    });
}
