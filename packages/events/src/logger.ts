import { logLevel as KafkaLogLevel, type logCreator } from 'kafkajs';

type LogFn = (obj: object, msg?: string) => void;

/** The slice of a pino logger this package uses; a pino `Logger` satisfies it. */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  child(bindings: Record<string, unknown>): Logger;
}

/**
 * The logger used when none is given: warnings and errors as JSON lines on stderr, nothing else, so a
 * library never prints to stdout on its own.
 */
export function stderrLogger(bindings: Record<string, unknown> = {}): Logger {
  const write = (level: string) => (obj: object, msg?: string) => {
    const line = JSON.stringify({ level, time: new Date().toISOString(), ...bindings, ...obj, msg }, errorsAsObjects);
    process.stderr.write(`${line}\n`);
  };
  const ignore: LogFn = () => undefined;
  return {
    debug: ignore,
    info: ignore,
    warn: write('warn'),
    error: write('error'),
    child: (more) => stderrLogger({ ...bindings, ...more }),
  };
}

/** JSON.stringify turns an Error into `{}`; keep what a reader of the log needs. */
function errorsAsObjects(_key: string, value: unknown): unknown {
  if (!(value instanceof Error)) return value;
  return { ...value, name: value.name, message: value.message, stack: value.stack };
}

/**
 * Routes kafkajs' own logs into `logger`. The client is created at WARN, so only WARN and ERROR arrive.
 * kafkajs logs every error response of a request, and every failed attempt it is about to retry, at ERROR;
 * those become warnings here, because the operation either recovers or fails to its caller, which logs it.
 */
export function kafkaLogCreator(logger: Logger, failedAttemptsAt: 'warn' | 'debug' = 'warn'): logCreator {
  return () => ({ namespace, level, log }) => {
    const { message, ...extra } = log;
    const fields = { component: 'kafkajs', namespace, ...extra };
    const attemptFailed = namespace === 'Connection' || 'retryCount' in extra;
    if (level === KafkaLogLevel.ERROR && !attemptFailed) logger.error(fields, message);
    else if (level === KafkaLogLevel.ERROR) logger[failedAttemptsAt](fields, message);
    else if (level === KafkaLogLevel.WARN) logger.warn(fields, message);
    else if (level === KafkaLogLevel.INFO) logger.info(fields, message);
    else logger.debug(fields, message);
  };
}
