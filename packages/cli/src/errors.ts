// How the CLI fails: one error type carrying the exit code and a hint the user can act on, and the mapping of
// the libraries' errors onto it (which service was unreachable where, and how to start it).
import { EventsError } from '@select/events';
import { ClickHouseConfigError, ClickHouseQueryError, ClickHouseUnavailableError, ReadOnlyQueryError } from '@select/metrics';
import { ConfigError } from '@select/platform';

/** Exit codes of every `select` command. */
export const EXIT_CODES = {
  /** Done; for `status`: everything healthy. */
  ok: 0,
  /** The command ran and failed: a query was refused or rejected, a component is unhealthy, infra.sh failed. */
  failed: 1,
  /** Wrong command line: unknown command or option, missing argument. */
  usage: 2,
  /** A service the command needs (ClickHouse, Kafka) did not answer. */
  unavailable: 3,
  /** Ctrl-C while following work in a service: the work goes on there (the command says how to follow it again). */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

/** A failure the CLI reports as `select: <message>` plus an optional hint, then exits with `exitCode`. */
export class CliError extends Error {
  readonly exitCode: number;
  /** What to do about it, e.g. the command that starts the missing service. */
  readonly hint: string | undefined;

  constructor(message: string, options: { exitCode?: number; hint?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'CliError';
    this.exitCode = options.exitCode ?? EXIT_CODES.failed;
    this.hint = options.hint;
  }
}

/** Where a command was pointed, so an error can name the URL or brokers it could not reach. */
export interface Endpoints {
  clickhouseUrl?: string;
  brokers?: readonly string[];
}

const START_INFRA = 'Start the local infrastructure with `select infra up`';

/** Turns any error a command threw into a CliError with a message for people (no stack traces). */
export function toCliError(err: unknown, endpoints: Endpoints = {}): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof ClickHouseUnavailableError) {
    return new CliError(`ClickHouse is unreachable at ${endpoints.clickhouseUrl ?? 'CLICKHOUSE_URL'}: ${rootMessage(err)}`, {
      exitCode: EXIT_CODES.unavailable,
      hint: `${START_INFRA}, or set CLICKHOUSE_URL to a running server.`,
      cause: err,
    });
  }
  if (err instanceof EventsError && err.code === 'BROKER_UNAVAILABLE') {
    return new CliError(`Kafka is unreachable at ${endpoints.brokers?.join(',') ?? 'KAFKA_BROKERS'}: no broker answered`, {
      exitCode: EXIT_CODES.unavailable,
      hint: `${START_INFRA}, or set KAFKA_BROKERS to running brokers.`,
      cause: err,
    });
  }
  if (err instanceof ReadOnlyQueryError) {
    return new CliError(`refused: ${err.message}`, {
      hint: '`select sql` runs as the read-only ClickHouse user; the metrics-sink is the only writer.',
      cause: err,
    });
  }
  if (err instanceof ClickHouseQueryError) {
    const unknownDatabase = err.code === 81;
    return new CliError(`ClickHouse rejected the query: ${err.message.replace(/^read-only query: /, '')}`, {
      ...(unknownDatabase ? { hint: 'The metrics-sink creates the database and its tables at start: run `select sink`.' } : {}),
      cause: err,
    });
  }
  if (err instanceof ClickHouseConfigError) return new CliError(err.message, { exitCode: EXIT_CODES.usage, cause: err });
  if (err instanceof ConfigError) return new CliError(err.message, { exitCode: EXIT_CODES.usage, cause: err });
  return new CliError(err instanceof Error ? err.message : String(err), { cause: err });
}

/** The innermost message of a cause chain: "connect ECONNREFUSED 127.0.0.1:8123" rather than the wrapper's. */
function rootMessage(err: Error): string {
  const match = /\(([^()]*)\)$/.exec(err.message);
  return match?.[1] ?? err.message;
}
