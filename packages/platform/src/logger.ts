import { pino, type DestinationStream, type Logger } from 'pino';
import { defineConfigSchema } from './config-schema.js';
import { resolveConfig } from './config.js';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Options every service shares for logging. */
export const loggingConfigSchema = defineConfigSchema({
  level: {
    env: 'LOG_LEVEL',
    type: 'enum',
    values: LOG_LEVELS,
    default: 'info',
    doc: 'Lowest log level written (JSON lines on stdout).',
  },
});

export interface LoggerOptions {
  /** Written as `service` on every line, so mixed logs can be split per service. */
  service: string;
  /** @default LOG_LEVEL, else 'info' */
  level?: LogLevel;
  /** Where lines go. @default stdout */
  destination?: DestinationStream;
  /** Extra fields written on every line (e.g. `{ version }`). */
  base?: Record<string, unknown>;
}

/**
 * A structured JSON logger: one object per line with `level` as a name, an ISO `time`, `service`,
 * and `err` serialised with its stack and cause. A bad LOG_LEVEL throws a ConfigError.
 */
export function createLogger(options: LoggerOptions): Logger {
  const { level } = resolveConfig(loggingConfigSchema, { level: options.level });
  const settings = {
    level,
    base: { ...options.base, service: options.service },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    serializers: { err: pino.stdSerializers.errWithCause },
  };
  // pino's own default destination writes stdout synchronously, so the last lines before a crash survive.
  return options.destination ? pino(settings, options.destination) : pino(settings);
}

/** A child logger whose every line carries `requestId`, so one request can be followed across services. */
export function requestLogger(logger: Logger, requestId: string, fields: Record<string, unknown> = {}): Logger {
  return logger.child({ ...fields, requestId });
}
