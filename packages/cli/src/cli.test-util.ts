// Runs the built `select` exactly as a user does (bin/select.js → dist/), after bringing dist/ up to date.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { spawnWithJsonLogs, type JsonLogProcess } from '@select/testing';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
const BIN = fileURLToPath(new URL('../bin/select.js', import.meta.url));
const TSC = fileURLToPath(new URL('../../../node_modules/typescript/bin/tsc', import.meta.url));

/** Builds the CLI and the packages it references (incremental: quick when nothing changed). */
export async function buildCli(): Promise<void> {
  await promisify(execFile)(process.execPath, [TSC, '-b', 'tsconfig.lib.json'], { cwd: PACKAGE_DIR });
}

export interface SelectResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `select <args>` to completion with `env` added to this process's environment. */
export function runSelect(args: string[], env: Record<string, string> = {}): Promise<SelectResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts a long-running `select <args>` (the sink), collecting its JSON log lines. */
export function startSelect(args: string[], env: Record<string, string> = {}): JsonLogProcess {
  return spawnWithJsonLogs(process.execPath, [BIN, ...args], { env: { ...process.env, ...env } });
}
