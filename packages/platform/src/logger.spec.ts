import { afterEach, describe, expect, it, vi } from 'vitest';
import { captureLogs } from '../test/fixtures/log-capture.js';
import { ConfigError, createLogger, requestLogger } from './index.js';

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('createLogger', () => {
  it('writes one JSON object per line with the level name, ISO time and service', () => {
    const { logger, lines } = captureLogs('trainer');
    logger.info({ epoch: 3 }, 'epoch finished');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'info', service: 'trainer', epoch: 3, msg: 'epoch finished' });
    expect(new Date(lines[0]?.['time'] as string).toISOString()).toBe(lines[0]?.['time']);
  });

  it('carries the request id on every line of a request logger', () => {
    const { logger, lines } = captureLogs();
    const log = requestLogger(logger, 'req-1', { method: '/x.Y/Z' });
    log.info('a');
    log.warn('b');
    expect(lines.map((l) => [l['requestId'], l['method'], l['level']])).toEqual([
      ['req-1', '/x.Y/Z', 'info'],
      ['req-1', '/x.Y/Z', 'warn'],
    ]);
  });

  it('serialises errors with their stack and cause', () => {
    const { logger, lines } = captureLogs();
    logger.error({ err: new Error('outer', { cause: new Error('inner') }) }, 'failed');
    const err = lines[0]?.['err'] as { message: string; stack: string; cause: { message: string } };
    expect(err.message).toBe('outer');
    expect(err.stack).toContain('logger.spec.ts');
    expect(err.cause.message).toBe('inner');
  });

  it('takes its level from LOG_LEVEL and rejects a level that does not exist', () => {
    vi.stubEnv('LOG_LEVEL', 'DEBUG');
    expect(createLogger({ service: 's', destination: { write: () => undefined } }).level).toBe('debug');
    vi.stubEnv('LOG_LEVEL', 'loud');
    expect(() => createLogger({ service: 's' })).toThrow(ConfigError);
    expect(() => createLogger({ service: 's' })).toThrow(/LOG_LEVEL="loud"/);
  });
});
