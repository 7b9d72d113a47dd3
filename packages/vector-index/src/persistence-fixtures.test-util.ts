import { Writable } from 'node:stream';
import { createLogger, type Logger } from '@select/platform';

/** A deterministic, never-zero vector per integer, so a test can recompute what a child process added. */
export function vectorFor(n: number, dimension: number): Float32Array {
  const v = new Float32Array(dimension);
  for (let i = 0; i < dimension; i++) v[i] = Math.sin(n * 12.9898 + i * 78.233) + (i === n % dimension ? 2 : 0);
  return v;
}

/** A real logger whose lines are kept in memory, so a test can assert on warnings. */
export function capturingLogger(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = createLogger({ service: 'vector-index-test', level: 'debug', destination });
  return {
    logger,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}
