// The command tree of `select`. Each action prints its result and leaves an exit code; failures are thrown as
// CliErrors and printed once, by runCli.
import { createRequire } from 'node:module';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { runMetricsSink } from '@select/metrics-sink';
import { EXIT_CODES, toCliError, type CliError } from './errors.js';
import { healthReport } from './health-report.js';
import { runInfraScript } from './infra-script.js';
import { registerBenchmarkCommand } from './benchmark/benchmark-command.js';
import { registerCurateCommands } from './curate-command.js';
import { registerReportCommand } from './report-command.js';
import { registerServicesCommand } from './services-command.js';
import { registerTrainCommands } from './train-command.js';
import { parseOutputFormat, runSqlCommand, type OutputFormat } from './sql-command.js';
import { formatTable } from './table-format.js';
import { runTopicsCommand } from './topics-command.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

const COMPONENTS = ['kafka', 'clickhouse'];

const EXIT_CODES_HELP = `
Exit codes: 0 done (status: all healthy), 1 failed (query refused or rejected, something unhealthy),
2 wrong command line, 3 ClickHouse or Kafka unreachable, 130 Ctrl-C while following a build, run or the benchmark
(the work goes on in the services; the command prints how to follow it again). \`select infra\` exits with infra.sh's code.`;

/** What an action leaves for runCli to return. */
interface RunState {
  exitCode: number;
}

function formatOption(): Option {
  return new Option('--format <format>', 'output: table (for people) or json (for scripts)').default('table').argParser(parseOutputFormat);
}

function brokersOption(): Option {
  return new Option('--brokers <list>', 'comma-separated host:port (default: KAFKA_BROKERS, else 127.0.0.1:9092)').argParser((value: string) =>
    value
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean),
  );
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number ≥ 0');
  return n;
}

function componentArgument(value: string): string {
  if (!COMPONENTS.includes(value)) throw new InvalidArgumentError(`expected ${COMPONENTS.join(' or ')}`);
  return value;
}

function write(text: string): void {
  process.stdout.write(text);
}

/** The `select` program. `state.exitCode` holds the code the last action asked for. */
export function createProgram(state: RunState = { exitCode: EXIT_CODES.ok }): Command {
  const program = new Command('select')
    .description('SELECT data curation platform: local infrastructure, the metrics sink, SQL over the metrics, event topics, health.')
    .version(version)
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .addHelpText('after', EXIT_CODES_HELP);

  const infra = program
    .command('infra')
    .description('local Kafka and ClickHouse (infra/infra.sh): start, stop, check, read logs')
    .addHelpText('after', '\nKAFKA_BROKERS / CLICKHOUSE_URL pointing elsewhere make these commands use those clusters instead (see infra/README.md).');
  const runScript = async (args: string[]): Promise<void> => {
    state.exitCode = await runInfraScript(args);
  };
  infra
    .command('up')
    .description('install what is missing, start Kafka and ClickHouse (or one of them), wait until ready; idempotent')
    .argument('[component]', 'kafka or clickhouse (default: both)', componentArgument)
    .action((component?: string) => runScript(component ? ['start', component] : ['up']));
  infra
    .command('down')
    .description('stop Kafka and ClickHouse (or one of them); data is kept')
    .argument('[component]', 'kafka or clickhouse (default: both)', componentArgument)
    .action((component?: string) => runScript(component ? ['stop', component] : ['down']));
  infra
    .command('status')
    .description('one line per component; exits 1 unless all are ready')
    .action(() => runScript(['status']));
  infra
    .command('logs')
    .description('print the last lines of the logs (of one component)')
    .argument('[component]', 'kafka or clickhouse (default: both)', componentArgument)
    .option('-f, --follow', 'keep printing new lines')
    .option('-n, --lines <n>', 'lines per file', positiveInt, 100)
    .action((component: string | undefined, opts: { follow?: boolean; lines: number }) =>
      runScript(['logs', ...(component ? [component] : []), '-n', String(opts.lines), ...(opts.follow ? ['-f'] : [])]),
    );

  program
    .command('sink')
    .description('run the metrics sink in the foreground: events from Kafka into ClickHouse tables; Ctrl-C stops it cleanly')
    .addHelpText(
      'after',
      `
Configured by the environment: KAFKA_BROKERS, KAFKA_TOPIC_PREFIX, CLICKHOUSE_URL, CLICKHOUSE_DATABASE,
METRICS_SINK_PORT (gRPC health, default 50070), METRICS_SINK_GROUP_ID, ... (packages/metrics-sink/README.md).
Logs are JSON lines on stdout. Exits 0 after a signal, once the batch in flight is committed; 1 if it cannot start.`,
    )
    .action(async () => {
      // Resolves once the sink consumes; the process then lives until a signal, which exits it.
      await runMetricsSink();
    });

  program
    .command('sql')
    .description('run ad-hoc SQL as the read-only ClickHouse user and print the result')
    .argument('<query>', 'one statement: SELECT, WITH, SHOW, DESCRIBE, EXISTS or EXPLAIN')
    .addOption(formatOption())
    .option('--database <name>', 'database to run it in (default: CLICKHOUSE_DATABASE, else select)')
    .option('--max-width <n>', 'cut table cells longer than this; 0 keeps them whole', positiveInt, 60)
    .addHelpText(
      'after',
      `
Examples:
  select sql "SELECT shift_id, value FROM leaderboard WHERE benchmark = 'imagenet-val' ORDER BY value DESC"
  select sql "SHOW TABLES" --format json

Connects to CLICKHOUSE_URL (default http://127.0.0.1:8123) as CLICKHOUSE_READER_USER (default select_reader),
whose profile is readonly=1: writes, DDL and setting changes are refused.`,
    )
    .action(async (query: string, opts: { format: OutputFormat; database?: string; maxWidth: number }) => {
      write(await runSqlCommand(query, { format: opts.format, maxCellWidth: opts.maxWidth, ...(opts.database ? { database: opts.database } : {}) }));
    });

  program
    .command('topics')
    .description('list the event topics and their dead-letter topics with partitions, as the broker has them')
    .addOption(formatOption())
    .addOption(brokersOption())
    .option('--prefix <prefix>', 'topic name prefix (default: KAFKA_TOPIC_PREFIX, else none)')
    .action(async (opts: { format: OutputFormat; brokers?: string[]; prefix?: string }) => {
      write(
        await runTopicsCommand({
          format: opts.format,
          ...(opts.brokers ? { brokers: opts.brokers } : {}),
          ...(opts.prefix !== undefined ? { topicPrefix: opts.prefix } : {}),
        }),
      );
    });

  program
    .command('status')
    .description('health of Kafka, ClickHouse and the metrics sink in one view; exits 0 only if all are healthy')
    .addOption(formatOption())
    .addOption(brokersOption())
    .option('--sink <host:port>', "the metrics sink's gRPC health address (default: METRICS_SINK_HOST:METRICS_SINK_PORT, else 127.0.0.1:50070)")
    .action(async (opts: { format: OutputFormat; brokers?: string[]; sink?: string }) => {
      const report = await healthReport({ ...(opts.brokers ? { brokers: opts.brokers } : {}), ...(opts.sink ? { sinkAddress: opts.sink } : {}) });
      if (opts.format === 'json') {
        write(`${JSON.stringify(report, null, 2)}\n`);
      } else {
        const rows = report.map((c) => [c.component, c.healthy ? 'ok' : 'FAIL', c.target, c.detail]);
        let text = formatTable([{ name: 'component' }, { name: 'state' }, { name: 'where' }, { name: 'detail' }], rows, { footer: false, maxCellWidth: 0 });
        for (const c of report) if (!c.healthy && c.hint) text += `${c.component}: ${c.hint}\n`;
        write(text);
      }
      state.exitCode = report.every((c) => c.healthy) ? EXIT_CODES.ok : EXIT_CODES.failed;
    });

  registerServicesCommand(program, (code) => {
    state.exitCode = code;
  });
  registerBenchmarkCommand(program, (code) => {
    state.exitCode = code;
  });
  registerCurateCommands(program, state);
  registerReportCommand(program, state);
  registerTrainCommands(program, state);

  return program;
}

/**
 * Runs `select` with `argv` (as in process.argv: node, script, args...) and resolves to the exit code. Errors are
 * printed to stderr as `select: <message>` plus a hint; nothing is thrown.
 */
export async function runCli(argv: readonly string[] = process.argv): Promise<number> {
  const state: RunState = { exitCode: EXIT_CODES.ok };
  const program = createProgram(state);
  try {
    await program.parseAsync([...argv]);
    return state.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has printed the help, the version or the usage error already.
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? EXIT_CODES.ok : EXIT_CODES.usage;
    }
    const failure: CliError = toCliError(err);
    process.stderr.write(`select: ${failure.message}\n${failure.hint ? `${failure.hint}\n` : ''}`);
    return failure.exitCode;
  }
}
