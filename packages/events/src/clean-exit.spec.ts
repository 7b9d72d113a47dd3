import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { deleteTopicsWithPrefix, randomPrefix } from './kafka.test-util.js';

const prefix = randomPrefix();
afterAll(() => deleteTopicsWithPrefix(prefix));

it('lets the process exit by itself after stop() and disconnect(), with no unhandled rejection', async () => {
  const script = fileURLToPath(new URL('./clean-exit.test-util.ts', import.meta.url));
  const cwd = fileURLToPath(new URL('..', import.meta.url));
  // tsx resolves @select/* through this package's tsconfig paths, like vitest does.
  const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script, prefix], { cwd, timeout: 25_000 });
  expect(stdout.trim()).toBe('processed 1');
  expect(stderr).not.toMatch(/unhandled|error log/i);
}, 30_000);
